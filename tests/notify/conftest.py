"""A running notify service for the tests of this folder, against the real Kafka and
PostgreSQL, our SMTP mail catcher (ephemeral port) and the SMS sandbox (aiohttp test
server). One per test module: a fresh database and a consumer group of its own, started at
the end of the topics so other test runs' events are not replayed."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from sandboxes.mail import MailCatcher, MailStore
from sandboxes.sms import SmsStore
from sandboxes.sms import build_routes as sms_routes
from services.notify.app import build_service
from services.notify.config import Settings
from shared.contracts import topics
from shared.contracts.envelope import Envelope
from shared.contracts.topics import dlq_topic
from shared.http import errors_middleware
from shared.kafka import ensure_topics
from shared.runtime import Service
from tests.helpers import ServiceEnvMixin, TopicTap, service_client, topics_of, wait_for

CONSUMED = (topics.ENROLLMENT_V1, topics.IDENTITY_V1, topics.BILLING_V1, topics.PAYMENTS_V1)


async def start_group_at_end(bootstrap: str, group: str) -> None:
    """Commit the group's offsets at the current end of every consumed topic."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [TopicPartition(t, p) for t in CONSUMED
                 for p in (consumer.partitions_for_topic(t) or await _partitions(consumer, t))]
        consumer.assign(parts)
        await consumer.seek_to_end(*parts)
        await consumer.commit({tp: await consumer.position(tp) for tp in parts})
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()  # noqa: SLF001 - metadata for a cold client
    return consumer.partitions_for_topic(topic) or set()


@dataclass
class NotifyEnv(ServiceEnvMixin):
    service: Service
    settings: Settings
    client: TestClient
    catcher: MailCatcher
    sms_store: SmsStore
    producer: AIOKafkaProducer
    dsn: str
    tap: TopicTap  # notify.v1 as a subscriber reads it, since the env started

    @property
    def mail(self) -> MailStore:
        return self.catcher.store

    async def wait_for(self, predicate, timeout_s: float = 30.0, what: str = "condition") -> Any:
        return await wait_for(predicate, timeout_s, what, poll_s=0.1)

    async def wait_for_emails(self, address: str, count: int, timeout_s: float = 30.0) -> list[dict]:
        return await self.wait_for(lambda: (m := self.mail.to(address)) and len(m) >= count and m,
                                   timeout_s, f"{count} email(s) to {address}")

    async def outbox_events(self, event_type: str) -> list[Envelope]:
        """Every event of a type notify has published since the env started, read from its
        topic once all it committed so far is there."""
        await self.tap.settled(self.pool)
        return self.tap.events(event_type)


async def _create_db(infra) -> str:
    name = f"t_notify_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(infra.pg_admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return name


@pytest.fixture(scope="module")
async def notify_env(infra):
    name = await _create_db(infra)
    group = f"notify.test.{uuid.uuid4().hex[:8]}"
    await ensure_topics(infra.kafka_bootstrap, extra={dlq_topic(group): 1})
    await start_group_at_end(infra.kafka_bootstrap, group)
    catcher = MailCatcher(MailStore(None))
    await catcher.start()
    sms_store = SmsStore(None)
    sms_app = web.Application(middlewares=[errors_middleware])
    sms_app.router.add_routes(sms_routes(sms_store))
    sms_server = TestServer(sms_app)
    await sms_server.start_server()
    settings = Settings(
        database_url=infra.dsn(name), kafka_bootstrap=infra.kafka_bootstrap, app_env="test",
        consumer_group=group, smtp_port=catcher.port, smtp_connections=4,
        sms_provider_url=str(sms_server.make_url("/sms")), retry_base_s=0.1, retry_max_s=1.0,
        send_attempts_max=6, sender_idle_poll_s=0.05, run_scheduler=False,
        public_url="https://portal.example.org")
    tap = TopicTap(infra.kafka_bootstrap, topics_of("notify"), producer="notify")
    await tap.start()
    service = build_service(settings)
    await service.start(http=False)
    client = service_client(service)
    await client.start_server()
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all")
    await producer.start()
    await service.wait_until_consuming()
    env = NotifyEnv(service, settings, client, catcher, sms_store, producer, infra.dsn(name), tap)
    try:
        yield env
    finally:
        await producer.stop()
        await client.close()
        await service.stop()
        await tap.stop()
        await sms_server.close()
        await catcher.stop()
        admin = await asyncpg.connect(infra.pg_admin_dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
