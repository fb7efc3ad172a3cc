"""The harness of the single-service tests (tests/<service>/conftest.py): a fresh
database, a consumer group that starts at the current end of its topics, an outside
world played by a sandbox on an aiohttp test server, and the service itself running
against the real Kafka and PostgreSQL with a topic tap, a test client and a producer.

Each piece is an async context manager that undoes what it did, in reverse order, however
the test ends."""
from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, fields
from typing import Any

import asyncpg
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from shared.http import errors_middleware
from shared.runtime import Service
from tests.helpers import ServiceEnvMixin, TopicTap, partitions_of, service_client, topics_of


async def admin_sql(infra: Any, sql: str) -> None:
    """One statement as the PostgreSQL superuser (creating and dropping databases)."""
    admin = await asyncpg.connect(infra.pg_admin_dsn)
    try:
        await admin.execute(sql)
    finally:
        await admin.close()


@asynccontextmanager
async def database(infra: Any, prefix: str = "t_") -> AsyncIterator[str]:
    """A new, empty database named `prefix` and a random tail; yields its DSN and drops it
    afterwards (even with connections still open)."""
    name = f"{prefix}{uuid.uuid4().hex[:10]}"
    await admin_sql(infra, f'CREATE DATABASE "{name}"')
    try:
        yield infra.dsn(name)
    finally:
        await admin_sql(infra, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def start_group_at_end(bootstrap: str, group: str, topics: Iterable[str]) -> None:
    """Commit the group's offsets at the current end of every partition of `topics`, so a
    service consuming as `group` takes only what is published from now on (other test
    runs' events on the shared topics are not replayed)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        parts = await partitions_of(consumer, topics)
        consumer.assign(parts)
        await consumer.seek_to_end(*parts)
        await consumer.commit({tp: await consumer.position(tp) for tp in parts})
    finally:
        await consumer.stop()


@asynccontextmanager
async def sandbox_server(routes: Iterable[web.AbstractRouteDef]) -> AsyncIterator[TestServer]:
    """A sandbox's routes on a test server of their own, answering errors as every
    service does."""
    app = web.Application(middlewares=[errors_middleware])
    app.router.add_routes(routes)
    server = TestServer(app)
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()


@dataclass
class ServiceEnv(ServiceEnvMixin):
    """A running service for the tests: its settings, a client of its HTTP API, a
    producer to publish as other services would, and a tap on the topics it publishes."""

    service: Service
    settings: Any
    client: TestClient
    producer: AIOKafkaProducer
    tap: TopicTap  # the service's topics as a subscriber reads them, since it started

    @classmethod
    def of(cls, env: ServiceEnv, **more: Any) -> Any:
        """A service's own env (a subclass with more fields) made from the running one."""
        return cls(**{f.name: getattr(env, f.name) for f in fields(ServiceEnv)}, **more)


@asynccontextmanager
async def running_service(infra: Any, settings: Any, build: Callable[[Any], Service], *,
                          caller: str = "operator",
                          prepare: Callable[[Service], Awaitable[None]] | None = None,
                          ) -> AsyncIterator[ServiceEnv]:
    """The service `build(settings)` makes, started without its own HTTP listener and
    consuming; `prepare` runs once it has started, before the tests call it (a clock of
    the test's own, say). The client calls it as `caller`."""
    async with AsyncExitStack() as stack:
        service = build(settings)
        tap = TopicTap(infra.kafka_bootstrap, topics_of(service.name), producer=service.name)
        await tap.start()
        stack.push_async_callback(tap.stop)
        await service.start(http=False)
        stack.push_async_callback(service.stop)
        if prepare is not None:
            await prepare(service)
        client = service_client(service, caller=caller)
        await client.start_server()
        stack.push_async_callback(client.close)
        producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all")
        await producer.start()
        stack.push_async_callback(producer.stop)
        await service.wait_until_consuming()
        yield ServiceEnv(service, settings, client, producer, tap)
