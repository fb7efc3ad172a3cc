"""Regulation E for autopay against the real stack: the notice of a varying draft 10 days
ahead (`autopay.upcoming` on payments.v1), none when the amount is unchanged or within the
member's range, once however often the job runs; the draft never above the amount noticed;
a set-up inside the notice window stating its first draft; the cancellation cut-off (3
banking days before the draft) and the draft that still happens after it."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from datetime import date
from pathlib import Path

from services.payments.service_layer import ach, autopay, autopay_notices
from tests.payments.conftest import CONTACT, bank_method, new_account, new_ban

ROOT = Path(__file__).resolve().parents[2]
NOV_DRAFT, DEC_DRAFT = date(2026, 11, 23), date(2026, 12, 22)  # Nov 22, 2026 is a Sunday
DEC_NOTICE, DEC_CUT_OFF = date(2026, 12, 12), date(2026, 12, 17)


async def _set_up(env, ban: str, **extra) -> tuple[int, dict]:
    r = await env.client.post(f"/accounts/{ban}/autopay", json={
        "idempotency_key": uuid.uuid4().hex, "method": bank_method(new_account()),
        "contact": CONTACT, "client_ip": "203.0.113.9", **extra})
    return r.status, await r.json()


async def _drafts(env, ban: str) -> list[dict]:
    return [e for e in await env.events("payment.submitted", ban) if e["channel"] == "autopay"]


def _cli(env, job: str, day: date) -> subprocess.CompletedProcess:
    environ = {**os.environ, "PAYMENTS_DATABASE_URL": env.dsn, "PYTHONPATH": str(ROOT),
               "KAFKA_BOOTSTRAP": env.settings.kafka_bootstrap}
    return subprocess.run([sys.executable, "-m", "services.payments.cli", job, "--date", day.isoformat()],
                          cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60)


async def test_a_varying_draft_is_noticed_10_days_ahead_once_and_an_unchanged_one_is_not(payments_env):
    env = payments_env
    env.clock.set(date(2026, 11, 2))
    varying, same = new_ban(), new_ban()
    for ban in (varying, same):
        await env.open_account(ban, {2026: 31000})
        assert (await _set_up(env, ban))[0] == 201
    # The first draft differs from nothing: both are noticed, 10 days before November 23.
    assert (await autopay_notices.run_notices(env.deps, date(2026, 11, 12)))["cycle"] is None
    await autopay_notices.run_notices(env.deps, date(2026, 11, 13))
    for ban in (varying, same):
        [first] = await env.events("autopay.upcoming", ban)
        assert first["reason"] == "first" and first["previous_amount_cents"] is None
        assert (first["amount_cents"], first["draft_date"]) == (31000, "2026-11-23")
    await autopay.run_autopay(env.deps, NOV_DRAFT)
    env.clock.set(NOV_DRAFT, 17)
    await ach.run_cutoff(env.deps, NOV_DRAFT)
    await ach.run_settlement(env.deps, date(2026, 11, 24))
    # December's bill: the same premium for one account, a higher one for the other.
    await env.open_account(same, {2026: 31000})
    await env.open_account(varying, {2026: 45000})
    assert (await autopay_notices.run_notices(env.deps, date(2026, 12, 11)))["cycle"] is None
    result = await autopay_notices.run_notices(env.deps, DEC_NOTICE)
    assert result["cycle"] == "2026-12" and result["draft_date"] == "2026-12-22"
    [_, notice] = await env.events("autopay.upcoming", varying)
    assert notice["amount_cents"] == 45000 and notice["previous_amount_cents"] == 31000
    assert notice["draft_date"] == "2026-12-22" and notice["cancel_by"] == "2026-12-17"
    assert notice["reason"] == "changed" and notice["cycle"] == "2026-12"
    assert notice["contact"]["email"] == CONTACT["email"] and len(notice["method"]["last4"]) == 4
    assert len(await env.events("autopay.upcoming", same)) == 1  # only November's first
    # Run again, in process and by the operator's command: nothing is sent twice.
    await autopay_notices.run_notices(env.deps, DEC_NOTICE)
    done = await asyncio.to_thread(_cli, env, "autopay-notices", date(2026, 12, 13))
    assert done.returncode == 0, done.stderr
    assert "0 notices sent" in done.stdout
    assert len(await env.events("autopay.upcoming", varying)) == 2
    rows = await env.pool.fetch("SELECT reason, noticed FROM autopay_notices n JOIN mandates m "
                                "USING (mandate_id) WHERE m.billing_account_number = $1 "
                                "AND cycle = '2026-12'", same)
    assert [(r["reason"], r["noticed"]) for r in rows] == [("unchanged", False)]
    # The balance rises after the notice: the draft takes the amount noticed, no more.
    await env.open_account(varying, {2026: 52000})
    await autopay.run_autopay(env.deps, DEC_DRAFT)
    assert [d["amount_cents"] for d in await _drafts(env, varying)] == [31000, 45000]
    assert [d["amount_cents"] for d in await _drafts(env, same)] == [31000, 31000]


async def test_a_cancellation_by_the_cut_off_stops_the_draft_and_one_after_it_does_not(payments_env):
    env = payments_env
    env.clock.set(date(2026, 12, 1))
    early, late = new_ban(), new_ban()
    for ban in (early, late):
        await env.open_account(ban, {2026: 27500})
        assert (await _set_up(env, ban))[0] == 201
    shown = await (await env.client.get(f"/accounts/{early}/autopay")).json()
    assert shown["cancellation"] == {"cancel_by": "2026-12-17", "stops_draft_date": "2026-12-22",
                                     "still_drafted_on": None}
    await autopay_notices.run_notices(env.deps, DEC_NOTICE)
    env.clock.set(DEC_CUT_OFF)  # the last day a cancellation stops the December 22 draft
    cancelled = await (await env.client.delete(f"/accounts/{early}/autopay")).json()
    assert cancelled["drafts_in_flight"] == []
    env.clock.set(date(2026, 12, 18))
    shown = await (await env.client.get(f"/accounts/{late}/autopay")).json()
    assert shown["cancellation"] == {"cancel_by": "2027-01-19", "stops_draft_date": "2027-01-22",
                                     "still_drafted_on": "2026-12-22"}
    r = await env.client.delete(f"/accounts/{late}/autopay")
    cancelled = await r.json()
    assert r.status == 200, cancelled
    [draft] = await _drafts(env, late)
    assert draft["amount_cents"] == 27500 and draft["cycle"] == "2026-12"
    assert cancelled["drafts_in_flight"] == [{"payment_id": draft["payment_id"], "amount_cents": 27500,
                                              "expected_withdrawal_date": "2026-12-23"}]
    [event] = await env.events("autopay.cancelled", late)
    assert event["drafts_in_flight"] == cancelled["drafts_in_flight"]
    # It goes in the file of its own draft day, not before; the run that day drafts nothing more.
    env.clock.set(date(2026, 12, 18), 17)
    await ach.run_cutoff(env.deps, date(2026, 12, 18))
    row = await env.pool.fetchrow("SELECT status, submitted_on FROM payments WHERE payment_id = $1::uuid",
                                  draft["payment_id"])
    assert (row["status"], row["submitted_on"]) == ("pending", DEC_DRAFT)
    await autopay.run_autopay(env.deps, DEC_DRAFT)
    env.clock.set(DEC_DRAFT, 17)
    await ach.run_cutoff(env.deps, DEC_DRAFT)
    assert await env.pool.fetchval("SELECT status FROM payments WHERE payment_id = $1::uuid",
                                   draft["payment_id"]) == "originated"
    assert len(await _drafts(env, late)) == 1
    assert await _drafts(env, early) == []


async def test_a_set_up_inside_the_notice_window_states_its_first_draft_which_it_caps(payments_env):
    env = payments_env
    env.clock.set(date(2026, 12, 15))
    ban = new_ban()
    await env.open_account(ban, {2026: 31000})
    assert (await _set_up(env, ban))[0] == 201
    [created] = await env.events("autopay.created", ban)
    assert created["first_draft_amount_cents"] == 31000 and created["next_draft_date"] == "2026-12-22"
    await autopay_notices.run_notices(env.deps, date(2026, 12, 16))
    assert await env.events("autopay.upcoming", ban) == []
    await env.open_account(ban, {2026: 40000})
    await autopay.run_autopay(env.deps, DEC_DRAFT)
    [draft] = await _drafts(env, ban)
    assert draft["amount_cents"] == 31000
    # Set up before the window opens, the confirmation states no amount: the notice will.
    env.clock.set(date(2026, 12, 23))
    other = new_ban()
    await env.open_account(other, {2026: 31000})
    assert (await _set_up(env, other))[0] == 201
    [created] = await env.events("autopay.created", other)
    assert "first_draft_amount_cents" not in created


async def test_a_member_with_a_range_hears_only_of_a_draft_outside_it(payments_env):
    env = payments_env
    env.clock.set(date(2027, 1, 2))
    inside, outside = new_ban(), new_ban()
    await env.open_account(inside, {2027: 31000})
    await env.open_account(outside, {2027: 52000})
    band = {"low": "200.00", "high": "400.00"}
    for ban in (inside, outside):
        status, body = await _set_up(env, ban, notice_range=band)
        assert status == 201, body
    shown = await (await env.client.get(f"/accounts/{inside}/autopay")).json()
    assert shown["notice_range"] == {"low_cents": 20000, "high_cents": 40000}
    await autopay_notices.run_notices(env.deps, date(2027, 1, 12))
    assert await env.events("autopay.upcoming", inside) == []
    [notice] = await env.events("autopay.upcoming", outside)
    assert notice["reason"] == "outside_range" and notice["amount_cents"] == 52000
    assert notice["notice_range"] == {"low_cents": 20000, "high_cents": 40000}
    # Within the range the draft may vary without a notice, up to its high end.
    await env.open_account(inside, {2027: 45000})
    await autopay.run_autopay(env.deps, date(2027, 1, 22))
    [draft] = await _drafts(env, inside)
    assert draft["amount_cents"] == 40000


async def test_a_range_that_is_not_one_is_refused(payments_env):
    env = payments_env
    ban = new_ban()
    await env.open_account(ban, {2027: 31000})
    for bad in ({"low": "400.00", "high": "200.00"}, {"low": "200"}, "200-400",
                {"low": "-1.00", "high": "5.00"}, {"low": "0", "high": "0"}):
        status, body = await _set_up(env, ban, notice_range=bad)
        assert status == 422 and "notice_range" in body["error"]["fields"], (bad, body)
    assert (await env.client.get(f"/accounts/{ban}/autopay")).status == 404
