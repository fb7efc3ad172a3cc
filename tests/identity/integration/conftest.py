"""A running identity service for each test module, against the real Kafka and PostgreSQL:
a fresh database and an intake consumer group of its own, started at the end of the topics
so other runs' events are not replayed. Intake is driven by publishing real enrollment.v1
and billing.v1 events and waiting for them to be applied.

A module may set `IDENTITY_SETTINGS = {...}` to override settings (small limits, say)."""
from __future__ import annotations

import ipaddress
import logging
import random
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from services.identity.app import build_service
from services.identity.config import Settings
from shared.contracts import topics
from shared.contracts.envelope import Envelope
from shared.contracts.topics import dlq_topic
from shared.kafka import ensure_topics
from shared.numbers import luhn_digit
from shared.runtime import Service
from tests.helpers import ServiceEnvMixin, TopicTap, service_client, topics_of, wait_for

CONSUMED = (topics.ENROLLMENT_V1, topics.BILLING_V1)
TEST_SETTINGS: dict[str, Any] = dict(
    argon2_time_cost=1, argon2_memory_kib=1024, lookup_ip_limit=1000, lookup_target_limit=1000,
    login_throttle_after=3, login_account_throttle_after=6, login_throttle_base_s=2,
    login_throttle_max_s=8, password_reset_ttl_s=5,
    public_url="https://portal.example.org")


async def start_group_at_end(bootstrap: str, group: str) -> None:
    """Commit the group's offsets at the current end of every consumed topic."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()  # noqa: SLF001 - a cold client's metadata
        parts = [TopicPartition(t, p) for t in CONSUMED for p in consumer.partitions_for_topic(t) or ()]
        consumer.assign(parts)
        await consumer.seek_to_end(*parts)
        await consumer.commit({tp: await consumer.position(tp) for tp in parts})
    finally:
        await consumer.stop()


class LogCapture(logging.Handler):
    """Keeps every record's message and extra fields, unredacted, for the SSN search."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.getMessage()} {vars(record)!r}")


@dataclass
class Member:
    household_id: str
    first_name: str
    last_name: str
    date_of_birth: date
    ssn: str
    email: str
    enrollments: dict[str, str] = field(default_factory=dict)   # plan_type -> enrollment id
    bans: dict[str, str] = field(default_factory=dict)          # plan_type -> BAN

    def lookup(self, plan_type: str, id_type: str, **overrides) -> dict:
        value = {"enrollment_id": self.enrollments.get(plan_type), "ssn": self.ssn,
                 "billing_account_number": self.bans.get(plan_type)}[id_type]
        body = {"plan_type": plan_type, "id_type": id_type, "id_value": value,
                "first_name": self.first_name, "last_name": self.last_name,
                "date_of_birth": self.date_of_birth.isoformat(), "client_ip": random_ip()}
        if id_type == "ssn":
            body["id_value_confirmation"] = value
        body.update(overrides)
        return body


def random_ip() -> str:
    return str(ipaddress.IPv4Address(random.randint(0x0B000000, 0xDF000000)))


def random_letters(n: int) -> str:
    return "".join(random.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(n)).title()


def random_digits(n: int, first: str = "") -> str:
    return first + "".join(random.choice("0123456789") for _ in range(n - len(first)))


def random_ban() -> str:
    """A billing account number with its check digit, as billing makes them."""
    body = random_digits(9, "7")
    return body + str(luhn_digit(body))


def enrollment_event(m: Member, plan_type: str, enrollment_id: str, *, shopped_at: datetime,
                     event_type: str = "enrollment.created", coverage_year: int = 2026,
                     **subscriber_overrides) -> Envelope:
    subscriber = {"first_name": m.first_name, "last_name": m.last_name,
                  "date_of_birth": m.date_of_birth.isoformat(), "ssn": m.ssn}
    subscriber.update(subscriber_overrides)
    return Envelope(event_type=event_type, producer="enrollment", key=m.household_id, data={
        "enrollment_id": enrollment_id, "household_id": m.household_id, "plan_type": plan_type,
        "coverage_year": coverage_year, "coverage_start": f"{coverage_year}-01-01",
        "plan_name": f"{plan_type.title()} Silver", "carrier": "Carrier Co", "premium_cents": 12345,
        "aptc": False, "shopped_at": shopped_at.isoformat(), "subscriber": subscriber,
        "contact": {"email": m.email, "phone": "617-555-0100", "language": "en"}})


def account_opened(m: Member, plan_type: str, ban: str) -> Envelope:
    return Envelope(event_type="account.opened", producer="billing", key=ban, data={
        "billing_account_number": ban, "household_id": m.household_id, "plan_type": plan_type,
        "enrollment_ids": [m.enrollments[plan_type]], "coverage_years": [2026], "aptc": False})


@dataclass
class IdentityEnv(ServiceEnvMixin):
    service: Service
    settings: Settings
    client: TestClient
    producer: AIOKafkaProducer
    logs: LogCapture
    tap: TopicTap  # identity's topics, as a subscriber reads them since the env started

    @property
    def deps(self):
        return self.service.deps

    async def wait_for(self, predicate, timeout_s: float = 30.0, what: str = "condition") -> Any:
        return await wait_for(predicate, timeout_s, what)

    async def wait_applied(self, *events: Envelope) -> None:
        ids = [e.event_id for e in events]
        await self.wait_for(lambda: self._count_processed(ids), what=f"{len(ids)} events applied")

    async def _count_processed(self, ids: list) -> bool:
        n = await self.pool.fetchval(
            "SELECT count(*) FROM processed_events WHERE event_id = ANY($1::uuid[])", ids)
        return n == len(ids)

    async def enrolled(self, *, plans: tuple[str, ...] = ("health", "dental"),
                       shopped_hours_ago: float = 24, open_accounts: bool = True, **fields) -> Member:
        """A new member, enrolled through Kafka, with billing accounts opened."""
        m = Member(household_id=f"HH-{uuid.uuid4().hex[:10]}",
                   first_name=fields.get("first_name", "Maria"),
                   last_name=fields.get("last_name", "Santos-" + random_letters(6)),
                   date_of_birth=fields.get("date_of_birth", date(1984, 3, 15)),
                   ssn=fields.get("ssn", random_digits(9)),
                   email=f"{uuid.uuid4().hex[:8]}@example.org")
        shopped = datetime.now(timezone.utc) - timedelta(hours=shopped_hours_ago)
        events = []
        for plan in plans:
            m.enrollments[plan] = random_digits(10, "33")
            events.append(enrollment_event(m, plan, m.enrollments[plan], shopped_at=shopped))
        if open_accounts:
            for plan in plans:
                m.bans[plan] = random_ban()
                events.append(account_opened(m, plan, m.bans[plan]))
        await self.publish(*events)
        await self.wait_applied(*events)
        return m

    async def outbox(self, event_type: str | None = None) -> list[Envelope]:
        """Every event identity has published since the env started (of one type if given),
        as read from its topic once all it has committed so far is there."""
        await self.tap.settled(self.pool)
        return self.tap.events(event_type)


@pytest.fixture(scope="module")
async def env(infra, request):
    name = f"t_identity_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(infra.pg_admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    group = f"identity.test.{uuid.uuid4().hex[:8]}"
    await ensure_topics(infra.kafka_bootstrap, extra={dlq_topic(group): 1})
    await start_group_at_end(infra.kafka_bootstrap, group)
    overrides = {**TEST_SETTINGS, **getattr(request.module, "IDENTITY_SETTINGS", {})}
    settings = Settings(database_url=infra.dsn(name), kafka_bootstrap=infra.kafka_bootstrap,
                        app_env="test", intake_group=group, **overrides)
    tap = TopicTap(infra.kafka_bootstrap, topics_of("identity"), producer="identity")
    await tap.start()
    logs = LogCapture()
    root = logging.getLogger()
    root.addHandler(logs)
    old_level = root.level
    root.setLevel(logging.INFO)
    service = build_service(settings)
    await service.start(http=False)
    # The tests call identity as its one real caller does: the gateway, whose word on the
    # member's address (client_ip) counts.
    client = service_client(service, caller="gateway")
    await client.start_server()
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all")
    await producer.start()
    await service.wait_until_consuming()
    try:
        yield IdentityEnv(service, settings, client, producer, logs, tap)
    finally:
        await producer.stop()
        await client.close()
        await service.stop()
        await tap.stop()
        root.removeHandler(logs)
        root.setLevel(old_level)
        admin = await asyncpg.connect(infra.pg_admin_dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
