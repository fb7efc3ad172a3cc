"""notify killed mid-batch: the real service as its own process, SIGKILLed while it sends a
batch, then started again. Counted at the mail catcher and the SMS sandbox per
notification: every email arrives, and only what was in flight at the kill (at most two
per SMTP connection) can arrive twice, with the same Message-ID; every text arrives once
(the provider honours the notification id as idempotency key)."""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections import Counter

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from sandboxes.mail import MailCatcher, MailStore
from sandboxes.sms import SmsStore
from sandboxes.sms import build_routes as sms_routes
from services.notify.adapters import repository as repo
from services.notify.app import MIGRATIONS
from shared.db import create_pool, migrate
from shared.http import errors_middleware
from tests.conftest import ROOT
from tests.harness import database
from tests.helpers import wait_for

EMAILS, TEXTS, SMTP_CONNECTIONS = 1200, 120, 4
MAIL_DOMAIN = "health-connector.example"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rows(tag: str) -> list[tuple]:
    out = []
    for i in range(EMAILS + TEXTS):
        email = i < EMAILS
        out.append((uuid.uuid4(), uuid.uuid4(), "payment.settled", "email" if email else "sms",
                    "payment_settled", "en", f"70000{i:05d}", f"70000{i:05d}", None, None,
                    f"crash{tag}-{i}@example.org" if email else f"+1617555{i:04d}",
                    "c***@example.org" if email else "***-***-0000",
                    f"Payment PC-{tag}-{i:04d} settled", f"Your payment PC-{tag}-{i:04d} settled.",
                    None))
    return out


@pytest.fixture
async def notify_db(infra):
    async with database(infra, "t_notify_crash_") as dsn:
        pool = await create_pool(dsn)
        await migrate(pool, MIGRATIONS)
        try:
            yield dsn, pool
        finally:
            await pool.close()


async def test_notify_killed_mid_batch_sends_each_email_once_but_for_what_was_in_flight(
        infra, notify_db, tmp_path):
    dsn, pool = notify_db
    tag = uuid.uuid4().hex[:6]
    async with pool.acquire() as conn:
        assert await repo.insert_notifications(conn, rows(tag)) == EMAILS + TEXTS
    catcher = MailCatcher(MailStore(None))
    await catcher.start()
    sms_store = SmsStore(None)
    sms_app = web.Application(middlewares=[errors_middleware])
    sms_app.router.add_routes(sms_routes(sms_store))
    sms_server = TestServer(sms_app)
    await sms_server.start_server()
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "APP_ENV": "test",
           "KAFKA_BOOTSTRAP": infra.kafka_bootstrap, "NOTIFY_DATABASE_URL": dsn,
           "NOTIFY_HTTP_PORT": str(port), "NOTIFY_SMTP_PORT": str(catcher.port),
           "NOTIFY_SMTP_CONNECTIONS": str(SMTP_CONNECTIONS),
           "NOTIFY_SMS_PROVIDER_URL": str(sms_server.make_url("/sms")),
           "NOTIFY_MAIL_FROM": f"Health Connector <no-reply@{MAIL_DOMAIN}>",
           "NOTIFY_RUN_CONSUMERS": "false", "NOTIFY_RUN_SCHEDULER": "false",
           "NOTIFY_SENDER_BATCH": "400", "NOTIFY_CLAIM_LEASE_S": "8"}
    log = (tmp_path / "notify.log").open("wb")

    def start() -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "services.notify"], env=env,
                                stdout=log, stderr=subprocess.STDOUT)

    first = start()
    second = None
    try:
        # Mid-batch: some of the first claims are sent, most of them are not.
        await wait_for(lambda: len(catcher.store.messages) >= 250, timeout_s=60,
                       what="the first emails", poll_s=0.005)
        first.send_signal(signal.SIGKILL)
        first.wait()
        at_kill = len(catcher.store.messages)
        assert at_kill < EMAILS, "the whole run finished before the kill"
        second = start()
        await wait_for(lambda: pool.fetchval(
            "SELECT count(*) = $1 FROM notifications WHERE status = 'sent'", EMAILS + TEXTS),
            timeout_s=90, what="every notification recorded as sent after the restart")
        async with aiohttp.ClientSession() as http:  # the restarted process serves
            async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
                assert resp.status == 200
        await asyncio.sleep(1.0)  # a stray copy would have arrived by now
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(10)
        log.close()
        await sms_server.close()
        await catcher.stop()

    ids = [str(r["notification_id"]) for r in await pool.fetch(
        "SELECT notification_id FROM notifications WHERE channel = 'email'")]
    copies = Counter(m["message_id"] for m in catcher.store.messages)
    assert set(copies) == {f"<{nid}@{MAIL_DOMAIN}>" for nid in ids}  # all there, ids stable
    twice = {mid: n for mid, n in copies.items() if n > 1}
    print(f"\n{at_kill} emails before the kill; sent again after the restart: {len(twice)} "
          f"(bound: {2 * SMTP_CONNECTIONS}, two per SMTP connection)")
    assert all(n == 2 for n in twice.values()) and len(twice) <= 2 * SMTP_CONNECTIONS
    texts = Counter(m["to"] for m in sms_store.messages)
    assert len(texts) == TEXTS and set(texts.values()) == {1}
    provider_ids = await pool.fetch(
        "SELECT provider_id FROM notifications WHERE channel = 'email'")
    assert {r["provider_id"] for r in provider_ids} == set(copies)
