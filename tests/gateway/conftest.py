"""GATEWAY-UNIT fixtures: the real gateway (its own real PostgreSQL database) in front of
fake upstream services (tests/gateway/fakes.py). Only for the gateway's own logic; the
end-to-end and browser tests use the real running stack."""
from __future__ import annotations

import uuid

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from services.gateway.app import build_app
from services.gateway.config import Settings
from tests.gateway import fakes


@pytest.fixture(scope="module")
async def gateway_db(infra):
    name = f"t_gw_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(infra.pg_admin_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    yield infra.dsn(name)
    admin = await asyncpg.connect(infra.pg_admin_dsn)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


@pytest.fixture
async def http():
    """A plain HTTP client, for the tests against the running stack."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def upstream():
    state = fakes.Upstream()
    servers = {name: TestServer(make(state)) for name, make in
               (("identity", fakes.identity_app), ("billing", fakes.billing_app),
                ("payments", fakes.payments_app))}
    for server in servers.values():
        await server.start_server()
    state.urls = {name: str(server.make_url("")).rstrip("/") for name, server in servers.items()}
    yield state
    for server in servers.values():
        await server.close()


async def _client(gateway_db, upstream, **overrides) -> TestClient:
    # The fakes change their answers without publishing events, so the account cache (which
    # test_account_cache.py covers against real Kafka) is off here unless a test turns it on.
    overrides.setdefault("account_cache_ttl_s", 0)
    overrides.setdefault("cookie_secure", False)  # the test client speaks plain HTTP
    overrides.setdefault("upstream_timeout_s", 2)
    settings = Settings(database_url=gateway_db, identity_url=upstream.urls["identity"],
                        billing_url=upstream.urls["billing"], payments_url=upstream.urls["payments"],
                        notify_url=upstream.urls["billing"], **overrides)
    client = TestClient(TestServer(build_app(settings)))
    await client.start_server()
    return client


@pytest.fixture
async def gw(gateway_db, upstream):
    """The gateway with the CAPTCHA on (its default)."""
    client = await _client(gateway_db, upstream)
    yield client
    await client.close()


@pytest.fixture
async def gw_no_captcha(gateway_db, upstream):
    client = await _client(gateway_db, upstream, captcha_enabled=False)
    yield client
    await client.close()
