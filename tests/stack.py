"""The whole running system for end-to-end and browser tests.

`stack` (session scope) starts the sandboxes, identity, billing, payments, notify and the
gateway as separate processes, exactly as `make run` does, against the test Kafka and fresh
PostgreSQL databases, on ports 18080-18085 (SMTP 11025; shifted by TEST_PORT_SHIFT) so a running `make run` is not
disturbed. The CAPTCHA is off (the gateway setting meant for automated acceptance runs).
The stack has service keys of its own; `headers(service)` are a caller's for one service.
"""
from __future__ import annotations

import asyncio
import os
import random
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from scripts.seed_demo import enrollment_event, publish
from scripts.stack import DATABASES, Ports, Stack, StackConfig

ROOT = Path(__file__).resolve().parent.parent


class RunningStack:
    def __init__(self, stack: Stack, infra) -> None:
        self.stack = stack
        self.infra = infra
        ports = stack.config.ports
        self.ports = ports
        self.gateway_url = ports.url("gateway")
        self.identity_url = ports.url("identity")
        self.billing_url = ports.url("billing")
        self.payments_url = ports.url("payments")
        self.notify_url = ports.url("notify")
        self.sandbox_url = ports.url("sandboxes")
        self.mail_api_url = f"{self.sandbox_url}/mail/api/messages"
        self.state_dir = stack.config.state_dir
        self.signers = {caller: stack.config.signer(caller) for caller in stack.config.service_keys}

    def headers(self, service: str, caller: str = "operator") -> dict[str, str]:
        """`Authorization` with `caller`'s service token for `service`."""
        return self.signers[caller].headers(service)

    async def seed_member(self, *, shopped_hours_ago: float = 5, plan_type: str = "health",
                          aptc: bool = False, premium_cents: int = 25_000,
                          coverage_start: date | None = None, language: str = "en",
                          wait: bool = True) -> dict:
        """Publish a new household's enrollment on enrollment.v1, as the exchange would, and
        (unless `wait` is false) wait until billing has opened its account."""
        n = random.randint(10**8, 10**9 - 1)
        today = datetime.now(timezone.utc).date()
        start = coverage_start or (today.replace(day=1) + timedelta(days=32)).replace(day=1)
        member = {
            "enrollment_id": f"33{n}", "household_id": f"HH-{uuid.uuid4().hex[:10]}",
            "ssn": f"{random.randint(100, 665)}{random.randint(10, 99)}{random.randint(1000, 9999)}",
            "first_name": random.choice(["Maria", "José", "Li", "Aisha", "John"]),
            # letters only: identity accepts letters, spaces, apostrophes, hyphens, periods
            "last_name": "Tester-" + "".join(random.choice("abcdefghijklmnopqrstuvwxyz")
                                             for _ in range(8)).title(),
            "date_of_birth": date(1980 + n % 20, 1 + n % 12, 1 + n % 28),
            "email": f"m{n}@example.org", "phone": f"617555{n % 10000:04d}",
            "plan_type": plan_type,
        }
        event = enrollment_event(
            enrollment_id=member["enrollment_id"], household_id=member["household_id"],
            plan_type=plan_type, coverage_year=start.year, coverage_start=start,
            plan_name="Test Silver Plan", carrier="Test Carrier", premium_cents=premium_cents,
            aptc=aptc, shopped_at=datetime.now(timezone.utc) - timedelta(hours=shopped_hours_ago),
            first_name=member["first_name"], last_name=member["last_name"],
            date_of_birth=member["date_of_birth"], ssn=member["ssn"], email=member["email"],
            phone=member["phone"], language=language)
        await publish(self.infra.kafka_bootstrap, [event], self.infra.kafka_auth)
        if wait:
            account = await self.wait_for_account(member["household_id"], plan_type, timeout_s=60)
            member["billing_account_number"] = account["billing_account_number"]
            await self.wait_until_payments_knows(member["billing_account_number"])
            if shopped_hours_ago >= 4:
                await self.wait_until_identity_knows(member)
        return member

    async def wait_until_payments_knows(self, ban: str, timeout_s: float = 60) -> None:
        """payments learns of a new account from billing's events, on its own schedule: a
        payment made before then is refused as for an unknown account."""
        deadline = time.monotonic() + timeout_s
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                async with http.get(f"{self.payments_url}/accounts/{ban}/owed",
                                    headers=self.headers("payments")) as r:
                    if r.status == 200:
                        return
                await asyncio.sleep(0.2)
        raise TimeoutError(f"payments never learnt of account {ban}")

    async def wait_until_identity_knows(self, member: dict) -> None:
        """identity consumes the same enrollment (and billing's account.opened) on its own
        schedule; ask it directly, from addresses of its own so the tests' lookup budget is
        untouched (a few tries only: identity also counts lookups per target). Only the
        gateway's word on a member's address counts, so these lookups are the gateway's."""
        body = {"plan_type": member["plan_type"], "id_type": "enrollment_id",
                "id_value": member["enrollment_id"], "first_name": member["first_name"],
                "last_name": member["last_name"],
                "date_of_birth": member["date_of_birth"].isoformat()}
        async with aiohttp.ClientSession() as http:
            for attempt, pause_s in enumerate((0.5, 1, 1.5, 2, 3, 4)):
                async with http.post(f"{self.identity_url}/lookups",
                                     json={**body, "client_ip": f"198.51.100.{attempt + 1}"},
                                     headers=self.headers("identity", caller="gateway")) as r:
                    if r.status == 200:
                        return
                await asyncio.sleep(pause_s)
        raise TimeoutError(f"identity never found enrollment {member['enrollment_id']}")

    async def wait_for_account(self, household_id: str, plan_type: str,
                               timeout_s: float = 30) -> dict:
        deadline = time.monotonic() + timeout_s
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                async with http.get(f"{self.billing_url}/accounts",
                                    params={"household_id": household_id},
                                    headers=self.headers("billing")) as r:
                    if r.status == 200:
                        for account in (await r.json()).get("accounts", []):
                            if account.get("plan_type") == plan_type:
                                return account
                await asyncio.sleep(0.2)
        raise TimeoutError(f"billing opened no {plan_type} account for {household_id}")

    def run_cli(self, service: str, *args: str, timeout_s: float = 120) -> str:
        """Run `python -m services.<service>.cli ARGS` with the stack's settings, as an
        operator would; returns its output and fails the test on a non-zero exit."""
        import subprocess
        import sys

        env = {**os.environ, **self.stack.config.environment(service)}
        done = subprocess.run([sys.executable, "-m", f"services.{service}.cli", *args],
                              cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=timeout_s)
        assert done.returncode == 0, f"{service} cli {args} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    async def emails_to(self, address: str) -> list[dict]:
        async with aiohttp.ClientSession() as http:
            async with http.get(self.mail_api_url, params={"to": address}) as r:
                r.raise_for_status()
                body = await r.json()
        return body["messages"] if isinstance(body, dict) else body

    async def wait_for_email(self, address: str, subject_contains: str = "",
                             timeout_s: float = 30) -> dict:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for message in await self.emails_to(address):
                if subject_contains.lower() in message.get("subject", "").lower():
                    return message
            await asyncio.sleep(0.3)
        raise TimeoutError(f"no email to {address} with {subject_contains!r} in the subject")


async def _create_databases(infra, suffix: str) -> dict[str, str]:
    admin = await asyncpg.connect(infra.pg_admin_dsn)
    dsn_of = {}
    try:
        for name in DATABASES:
            db = f"e2e_{name}_{suffix}"
            await admin.execute(f'CREATE DATABASE "{db}"')
            dsn_of[name] = infra.dsn(db)
    finally:
        await admin.close()
    return dsn_of


class TraceCollector:
    """An OTLP/HTTP trace receiver that keeps every span in memory: the stack's processes
    export to it, so a test can follow one member action across processes."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.spans: list[dict] = []
        self._runner: web.AppRunner | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _receive(self, request: web.Request) -> web.Response:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
            ExportTraceServiceResponse,
        )

        export = ExportTraceServiceRequest()
        export.ParseFromString(await request.read())
        for resource_spans in export.resource_spans:
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    attrs = {a.key: a.value.string_value for a in span.attributes}
                    self.spans.append({
                        "trace_id": span.trace_id.hex(), "span_id": span.span_id.hex(),
                        "parent_span_id": span.parent_span_id.hex() or None,
                        "name": span.name, "service": attrs.get("service.name"),
                        "attributes": attrs})
        return web.Response(body=ExportTraceServiceResponse().SerializeToString(),
                            content_type="application/x-protobuf")

    def of_trace(self, trace_id: str) -> list[dict]:
        return [s for s in self.spans if s["trace_id"] == trace_id]

    async def start(self) -> None:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post("/v1/traces", self._receive)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture(scope="session")
async def stack(infra):
    suffix = uuid.uuid4().hex[:8]
    state_dir = ROOT / ".state" / "test" / f"stack-{suffix}"
    ports = Ports.offset(10_000 + int(os.environ.get("TEST_PORT_SHIFT", "0")))
    traces = TraceCollector(ports.sandboxes + 1)
    await traces.start()
    config = StackConfig(kafka_bootstrap=infra.kafka_bootstrap,
                         dsn_of=await _create_databases(infra, suffix), state_dir=state_dir,
                         ports=ports, captcha_enabled=False, app_env="test",
                         extra_env={"GATEWAY_COOKIE_SECURE": "false",
                                    # every test's member comes from 127.0.0.1: per-address
                                    # limits sized for one person would refuse the suite
                                    # (their own tests run them with their own settings)
                                    "IDENTITY_LOOKUP_IP_LIMIT": "100000",
                                    "GATEWAY_SENSITIVE_RATE_LIMIT_PER_MINUTE": "100000",
                                    # every stack process traces, exporting every 200 ms
                                    "OTEL_EXPORTER_OTLP_ENDPOINT": traces.endpoint,
                                    "OTEL_BSP_SCHEDULE_DELAY": "200",
                                    # the stack's tests pay from bank accounts new to it and
                                    # look for their debits in the next ACH file; account
                                    # validation (prenote, micro-entries) is walked through
                                    # in tests/payments/test_account_validation.py
                                    "PAYMENTS_ACCOUNT_VALIDATION": "none"})
    running = Stack(config)
    running.start()
    try:
        await running.wait_ready(timeout_s=120)
        stack = RunningStack(running, infra)
        stack.traces = traces
        yield stack
    finally:
        running.stop()
        await traces.stop()
