"""The billing projection (late events, renewals) and the daily jobs as the scheduler runs them."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from services.payments.entrypoints.scheduler import run_day
from shared.contracts.envelope import Envelope
from tests.payments.conftest import CONTACT, bank_method, new_account, new_ban, wait_for


def _balance(ban: str, total: int, at: datetime) -> Envelope:
    return Envelope(event_type="balance.changed", producer="billing", key=ban, occurred_at=at, data={
        "billing_account_number": ban, "plan_type": "dental", "total_balance_cents": total,
        "reason": "test", "lines": [{"coverage_year": 2026, "balance_cents": total,
                                     "current_premium_cents": total, "due_date": "2026-07-23"}]})


async def test_projection_keeps_the_latest_balance_and_adds_renewal_lines(payments_env):
    env = payments_env
    ban = new_ban()
    await env.open_account(ban, {2026: 4000}, plan_type="dental")
    now = datetime.now(timezone.utc)
    await env.publish(_balance(ban, 7000, now + timedelta(seconds=5)),
                      _balance(ban, 1000, now - timedelta(days=1)))  # late and older: ignored

    async def seen() -> bool:
        body = await (await env.client.get(f"/accounts/{ban}/owed")).json()
        return body["total_balance_cents"] == 7000 and body
    owed = await wait_for(seen, what="latest balance")
    await env.publish(Envelope(event_type="account.opened", producer="billing", key=ban, data={
        "billing_account_number": ban, "household_id": "H", "plan_type": "dental",
        "enrollment_ids": ["E1"], "coverage_years": [2026, 2027], "aptc": False}))

    async def renewed():
        body = await (await env.client.get(f"/accounts/{ban}/owed")).json()
        return [ln["coverage_year"] for ln in body["lines"]] == [2026, 2027] and body
    body = await wait_for(renewed, what="renewal line")
    assert body["lines"][0]["balance_cents"] == 7000 and owed["plan_type"] == "dental"
    assert (await env.client.get(f"/accounts/{new_ban()}/owed")).status == 404


async def test_daily_jobs_on_the_draft_day(payments_env):
    env = payments_env
    ban = new_ban()
    env.clock.set(date(2026, 7, 1))
    await env.open_account(ban, {2026: 8800})
    r = await env.client.post(f"/accounts/{ban}/autopay", json={
        "idempotency_key": new_account(), "method": bank_method(new_account()), "contact": CONTACT})
    assert r.status == 201
    draft_day = date(2026, 7, 22)
    env.clock.set(draft_day, 17)
    await run_day(env.service, draft_day)
    await run_day(env.service, draft_day)  # the same day again changes nothing
    [submitted] = await env.events("payment.submitted", ban)
    assert submitted["channel"] == "autopay"
    payments = (await (await env.client.get(f"/accounts/{ban}/payments")).json())["payments"]
    assert [p["status"] for p in payments] == ["originated"]
    await run_day(env.service, date(2026, 7, 23))
    [settled] = await env.events("payment.settled", ban)
    assert settled["settled_on"] == "2026-07-23" and settled["amount_cents"] == 8800
