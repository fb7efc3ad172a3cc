"""Delivery when things go wrong: SMTP down then up, two senders at once, the daily
reminder job (run from the command line, twice)."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from datetime import date, timedelta

from services.notify.adapters import repository as repo
from services.notify.app import make_composer
from services.notify.domain.messages import Intent
from services.notify.domain.recipients import Profile
from services.notify.service_layer.sender import Sender
from tests.conftest import ROOT
from tests.notify.events import Household, event
from tests.notify.test_messages import setup_household


async def test_smtp_down_then_up_delivers_everything_once(notify_env):
    env = notify_env
    h = await setup_household(env, "en")
    await env.catcher.stop()
    try:
        events = [h.payment_submitted(f"PC-DOWN{i:02d}X{h.tag}", amount_cents=1000 + i) for i in range(20)]
        await env.publish(*events)
        await env.wait_for(lambda: env.pool.fetchval(
            """SELECT count(*) = 20 FROM notifications WHERE billing_account_number = $1
               AND status = 'pending' AND attempts >= 2""", h.ban), what="failed attempts")
        last_error = await env.pool.fetchval(
            "SELECT last_error FROM notifications WHERE billing_account_number = $1 LIMIT 1", h.ban)
        assert "SMTP unavailable" in last_error
    finally:
        await env.catcher.start()  # the same port again
    emails = await env.wait_for_emails(h.email, 20, timeout_s=30)
    await asyncio.sleep(1.5)  # any duplicate would have arrived by now
    emails = env.mail.to(h.email)
    subjects = sorted(m["subject"] for m in emails)
    assert len(subjects) == 20 and len(set(subjects)) == 20
    for i in range(20):
        assert any(f"PC-DOWN{i:02d}X{h.tag}" in s for s in subjects)
    rows = await env.pool.fetch(
        "SELECT status FROM notifications WHERE billing_account_number = $1", h.ban)
    assert {r["status"] for r in rows} == {"sent"}


async def test_two_senders_never_send_one_notification_twice(notify_env):
    env = notify_env
    composer = make_composer(env.settings)
    address = f"bulk{Household().tag}@example.org"
    rows = []
    for i in range(300):
        intent = Intent("payment_settled", billing_account_number="7000000001",
                        contact={"email": address, "language": "en"},
                        facts={"confirmation_number": f"PC-BULK{i:04d}", "amount_cents": 100 + i,
                               "method": {"type": "savings", "last4": "4321"},
                               "settled_on": "2026-11-27"})
        rows += composer.rows(source_event_id=uuid.uuid4(), source_event_type="payment.settled",
                              correlation_id=None, intent=intent, profile=Profile())
    async with env.pool.acquire() as conn:
        assert await repo.insert_notifications(conn, rows) == 300
    main: Sender = env.service.deps.sender
    other = Sender(env.pool, main.smtp, main.sms, main.config.__class__(
        **{**main.config.__dict__, "batch": 40}))
    replica = Sender(env.pool, main.smtp, main.sms, main.config.__class__(
        **{**main.config.__dict__, "batch": 25}))

    async def drain(sender: Sender) -> None:
        for _ in range(200):
            if not await sender.run_once():
                await asyncio.sleep(0.05)
            if await env.pool.fetchval(
                    "SELECT count(*) FROM notifications WHERE recipient = $1 AND status = 'pending'",
                    address) == 0:
                return

    await asyncio.gather(drain(other), drain(replica))  # and the service's own sender too
    emails = await env.wait_for_emails(address, 300)
    await asyncio.sleep(1.0)
    emails = env.mail.to(address)
    assert len(emails) == 300
    assert len({m["subject"] for m in emails}) == 300 or len({m["text"] for m in emails}) == 300


def run_cli(env, *args: str) -> str:
    environ = {**os.environ, "NOTIFY_DATABASE_URL": env.dsn,
               "NOTIFY_PORTAL_URL": "https://portal.example.org", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "services.notify.cli", *args], cwd=ROOT,
                          env=environ, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_due_date_reminder_job_once_per_date_and_not_with_autopay(notify_env):
    env = notify_env
    today = date(2026, 12, 18)
    due = today + timedelta(days=env.settings.reminder_days_before)  # December 23
    unpaid = await setup_household(env, "es")
    covered = await setup_household(env, "en")
    paid = await setup_household(env, "en")
    await env.publish(
        _balance(unpaid.ban, 25000, due), _balance(covered.ban, 25000, due), _balance(paid.ban, 0, due),
        event("autopay.created", covered.ban, {
            "mandate_id": "MD-" + covered.tag, "billing_account_number": covered.ban,
            "method": {"type": "checking", "last4": "1111"}, "next_draft_date": "2026-12-22",
            "contact": covered.contact}))
    await env.wait_for(lambda: env.pool.fetchval(
        "SELECT count(*) = 3 FROM balances WHERE billing_account_number = ANY($1::text[])",
        [unpaid.ban, covered.ban, paid.ban]), what="balances")
    await env.wait_for(lambda: env.pool.fetchval(
        "SELECT 1 FROM autopay WHERE billing_account_number = $1", covered.ban), what="autopay")
    out = run_cli(env, "reminders", "--date", today.isoformat())
    assert "notifications recorded now:" in out
    reminder = (await env.wait_for_emails(unpaid.email, 1))[0]
    assert reminder["subject"] == "Recordatorio: $250.00 vence el 23 de diciembre de 2026"
    assert "Hola, María:" in reminder["text"]
    again = run_cli(env, "reminders", "--date", today.isoformat())
    assert "notifications recorded now: 0" in again
    await asyncio.sleep(1.0)
    assert len(env.mail.to(unpaid.email)) == 1
    assert not [m for m in env.mail.to(covered.email) if "Reminder" in m["subject"]]
    assert not [m for m in env.mail.to(paid.email) if "Reminder" in m["subject"]]
    # Another day is not a reminder day for that due date: nothing more.
    other = run_cli(env, "reminders", "--date", (today + timedelta(days=1)).isoformat())
    assert "accounts with a balance due and no autopay: 0" in other


def _balance(ban: str, cents: int, due: date):
    return event("balance.changed", ban, {
        "billing_account_number": ban, "plan_type": "health", "total_balance_cents": cents,
        "lines": [{"coverage_year": 2027, "balance_cents": cents, "current_premium_cents": 25000,
                   "due_date": due.isoformat()}], "reason": "invoice"})
