"""A running notify service for the tests of this folder, against the real Kafka and
PostgreSQL, our SMTP mail catcher (ephemeral port) and the SMS sandbox (aiohttp test
server). One per test module: a fresh database and a consumer group of its own, started at
the end of the topics so other test runs' events are not replayed."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from sandboxes.mail import MailCatcher, MailStore
from sandboxes.sms import SmsStore
from sandboxes.sms import build_routes as sms_routes
from services.notify.app import build_service
from services.notify.config import Settings
from shared.contracts import topics
from shared.contracts.envelope import Envelope
from shared.contracts.topics import dlq_topic
from shared.kafka import ensure_topics
from tests.harness import ServiceEnv, database, running_service, sandbox_server, start_group_at_end
from tests.helpers import wait_for

CONSUMED = (topics.ENROLLMENT_V1, topics.IDENTITY_V1, topics.BILLING_V1, topics.PAYMENTS_V1)


@dataclass
class NotifyEnv(ServiceEnv):
    catcher: MailCatcher
    sms_store: SmsStore
    dsn: str

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


@pytest.fixture(scope="module")
async def notify_env(infra):
    group = f"notify.test.{uuid.uuid4().hex[:8]}"
    await ensure_topics(infra.kafka_bootstrap, extra={dlq_topic(group): 1})
    await start_group_at_end(infra.kafka_bootstrap, group, CONSUMED)
    catcher = MailCatcher(MailStore(None))
    await catcher.start()
    sms_store = SmsStore(None)
    try:
        async with database(infra, "t_notify_") as dsn, \
                sandbox_server(sms_routes(sms_store)) as sms_server:
            settings = Settings(
                database_url=dsn, kafka_bootstrap=infra.kafka_bootstrap, app_env="test",
                consumer_group=group, smtp_port=catcher.port, smtp_connections=4,
                sms_provider_url=str(sms_server.make_url("/sms")), retry_base_s=0.1,
                retry_max_s=1.0, send_attempts_max=6, sender_idle_poll_s=0.05,
                run_scheduler=False, public_url="https://portal.example.org")
            async with running_service(infra, settings, build_service) as env:
                yield NotifyEnv.of(env, catcher=catcher, sms_store=sms_store, dsn=dsn)
    finally:
        await catcher.stop()
