"""The due-date reminder tells what the newest balance.changed says is owed: balances that
arrive together are kept as the last of each account, and an older one replayed after a
newer one changes nothing."""
from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone

from services.notify.adapters import repository as repo
from services.notify.app import MIGRATIONS
from services.notify.service_layer.reminders import run_reminders
from shared.db import create_pool, migrate
from tests.notify.events import Household, event

DUE = date(2031, 6, 23)


def balance(h: Household, cents: int, at: datetime) -> object:
    return event("balance.changed", h.ban, {
        "billing_account_number": h.ban, "plan_type": "health", "total_balance_cents": cents,
        "reason": "invoice_issued", "lines": [{
            "coverage_year": 2031, "balance_cents": cents, "current_premium_cents": cents,
            "due_date": DUE.isoformat()}]}, occurred_at=at)


async def test_the_reminder_tells_the_newest_balance_of_each_account(notify_env):
    env = notify_env
    replayed, in_order, paid = Household(), Household(), Household()
    for h in (replayed, in_order, paid):
        await env.publish(h.enrollment(), h.account_opened())
    await env.wait_for(lambda: env.pool.fetchval(
        "SELECT count(*) = 3 FROM accounts WHERE billing_account_number = ANY($1::text[])",
        [replayed.ban, in_order.ban, paid.ban]), what="the accounts")
    t = datetime.now(timezone.utc)
    await env.publish(
        balance(replayed, 300_00, t), balance(replayed, 999_00, t - timedelta(hours=1)),
        balance(in_order, 100_00, t), balance(in_order, 150_00, t + timedelta(seconds=1)),
        balance(paid, 250_00, t), balance(paid, 0, t + timedelta(seconds=1)))
    # A message after them on each account's key: when it is sent, they have been read.
    for h in (replayed, in_order, paid):
        await env.publish(h.payment_submitted(f"PC-B{uuid.uuid4().hex[:8].upper()}"))
        await env.wait_for_emails(h.email, 1)

    result = await run_reminders(env.pool, env.service.deps.composer, DUE - timedelta(days=5), 5)
    assert result["accounts_due"] == 2  # the paid account owes nothing: no reminder
    [first] = await env.wait_for_emails(replayed.email, 2) and \
        [m for m in env.mail.to(replayed.email) if "Reminder" in m["subject"]]
    assert first["subject"] == "Reminder: $300.00 is due June 23, 2031"
    [second] = await env.wait_for_emails(in_order.email, 2) and \
        [m for m in env.mail.to(in_order.email) if "Reminder" in m["subject"]]
    assert second["subject"] == "Reminder: $150.00 is due June 23, 2031"
    assert [m for m in env.mail.to(paid.email) if "Reminder" in m["subject"]] == []


async def test_balances_written_together_leave_what_writing_them_in_turn_leaves(fresh_db):
    """One write of many balances (a consumer's batch): per account the newest stays, of two
    as new the later, and an older one written afterwards changes nothing."""
    pool = await create_pool(fresh_db)
    try:
        await migrate(pool, MIGRATIONS)
        t = datetime(2031, 6, 1, 12, tzinfo=timezone.utc)

        def row(ban: str, cents: int, at: datetime) -> tuple[str, int, list, datetime]:
            return (ban, cents, [{"coverage_year": 2031, "balance_cents": cents,
                                  "current_premium_cents": cents, "due_date": DUE.isoformat()}], at)
        async with pool.acquire() as conn:
            await repo.set_balances(conn, [
                row("7000000001", 300_00, t), row("7000000001", 999_00, t - timedelta(hours=1)),
                row("7000000002", 100_00, t), row("7000000002", 150_00, t),
                row("7000000003", 250_00, t), row("7000000003", 0, t + timedelta(seconds=1))])
            await repo.set_balances(conn, [row("7000000003", 500_00, t)])  # replayed, older
            due = {r["billing_account_number"]: r["total_balance_cents"]
                   for r in await repo.reminder_candidates(conn, DUE)}
        assert due == {"7000000001": 300_00, "7000000002": 150_00}
    finally:
        await pool.close()
