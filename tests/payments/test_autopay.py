"""Recurring payments: mandates, the autopay run on the draft day (repeated, killed midway,
after a cancellation) and the first recurring payment through POST /payments."""
from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from datetime import date
from pathlib import Path

from services.payments.service_layer import ach, autopay
from shared import locks
from shared.db import advisory_lock
from tests.helpers import service_client, wait_for
from tests.payments.conftest import CONTACT, bank_method, new_account, new_ban
from tests.payments.seed import seed_mandates

ROOT = Path(__file__).resolve().parents[2]
DRAFT_DAY = date(2026, 3, 23)  # March 22, 2026 is a Sunday: the next banking day
APRIL_DRAFT = date(2026, 4, 22)


async def _autopay(env, ban: str, account: str, key: str | None = None):
    r = await env.client.post(f"/accounts/{ban}/autopay", json={
        "idempotency_key": key or uuid.uuid4().hex, "method": bank_method(account),
        "contact": CONTACT, "client_ip": "203.0.113.9"})
    return r.status, await r.json()


async def test_mandate_create_get_cancel_and_one_active(payments_env):
    env = payments_env
    env.clock.set(date(2026, 3, 10))
    ban = new_ban()
    await env.open_account(ban, {2026: 31000})
    account = new_account()
    status, mandate = await _autopay(env, ban, account)
    assert status == 201, mandate
    assert mandate["status"] == "active" and mandate["next_draft_date"] == "2026-03-23"
    assert mandate["method"] == {"type": "checking", "last4": account[-4:]}
    assert account[-4:] in mandate["authorization"]["text"] and account not in mandate["authorization"]["text"]
    row = await env.pool.fetchrow("SELECT * FROM mandates WHERE mandate_id = $1::uuid", mandate["mandate_id"])
    assert row["authorized_ip"] == "203.0.113.9" and row["authorized_method_last4"] == account[-4:]
    [created] = await env.events("autopay.created", ban)
    assert created["next_draft_date"] == "2026-03-23" and created["contact"]["email"] == CONTACT["email"]
    status, body = await _autopay(env, ban, new_account())
    assert status == 409 and body["error"]["code"] == "autopay_exists"
    shown = await (await env.client.get(f"/accounts/{ban}/autopay")).json()
    assert shown["mandate_id"] == mandate["mandate_id"]
    # The account summary's one call to payments gives the same mandate.
    standing = await (await env.client.get(f"/accounts/{ban}/standing")).json()
    assert standing["autopay"] == shown and standing["pending"]["pending_total_cents"] == 0
    r = await env.client.delete(f"/accounts/{ban}/autopay")
    assert r.status == 200 and (await r.json())["status"] == "cancelled"
    [cancelled] = await env.events("autopay.cancelled", ban)
    assert cancelled["reason"] == "member_request" and cancelled["drafts_in_flight"] == []
    assert (await env.client.get(f"/accounts/{ban}/autopay")).status == 404
    assert (await (await env.client.get(f"/accounts/{ban}/standing")).json())["autopay"] is None
    assert (await env.client.delete(f"/accounts/{ban}/autopay")).status == 404
    status, again = await _autopay(env, ban, account)  # created again at any time
    assert status == 201 and again["mandate_id"] != mandate["mandate_id"]


async def test_autopay_run_drafts_once_and_cancel_stops_next_draft(payments_env):
    env = payments_env
    env.clock.set(date(2026, 3, 10))
    keep, stop = new_ban(), new_ban()
    await env.open_account(keep, {2025: 5000, 2026: 31000})
    await env.open_account(stop, {2026: 22000})
    assert (await _autopay(env, keep, new_account()))[0] == 201
    assert (await _autopay(env, stop, new_account()))[0] == 201
    assert (await autopay.run_autopay(env.deps, date(2026, 3, 20)))["drafted"] == 0
    lines: list[str] = []
    first = await autopay.run_autopay(env.deps, DRAFT_DAY, lines.append)
    assert first["cycle"] == "2026-03" and first["drafted"] >= 2
    assert any("mandates looked at" in line for line in lines)
    assert (await autopay.run_autopay(env.deps, DRAFT_DAY))["drafted"] == 0
    [draft] = await env.events("payment.submitted", keep)
    assert draft["amount_cents"] == 36000 and draft["channel"] == "autopay" and draft["kind"] == "recurring"
    assert draft["allocations"] == [{"coverage_year": 2025, "amount_cents": 5000},
                                    {"coverage_year": 2026, "amount_cents": 31000}]
    assert draft["expected_withdrawal_date"] == "2026-03-24" and draft["mandate_id"]
    # Through origination and settlement like any debit.
    env.clock.set(DRAFT_DAY, 17)
    assert (await ach.run_cutoff(env.deps, DRAFT_DAY))["entries"] >= 2
    await ach.run_settlement(env.deps, date(2026, 3, 24))
    [settled] = await env.events("payment.settled", keep)
    assert settled["amount_cents"] == 36000
    # Cancelling stops the next draft; the other mandate is drafted in April.
    assert (await env.client.delete(f"/accounts/{stop}/autopay")).status == 200
    await autopay.run_autopay(env.deps, APRIL_DRAFT)
    assert len(await env.events("payment.submitted", keep)) == 2
    assert len(await env.events("payment.submitted", stop)) == 1


async def test_recurring_payment_through_post_payments_and_returns_r07(payments_env):
    env = payments_env
    day = date(2026, 4, 6)
    env.clock.set(day)
    ban = new_ban()
    await env.open_account(ban, {2026: 15000})
    status, body = await env.pay({"billing_account_number": ban, "kind": "recurring",
                                  "amount": "total", "method": bank_method(new_account("07"))})
    assert status == 201 and body["mandate_id"] and body["amount_cents"] == 15000, body
    [event] = await env.events("payment.submitted", ban)
    assert event["kind"] == "recurring" and event["mandate_id"] == body["mandate_id"]
    status, again = await env.pay({"billing_account_number": ban, "kind": "recurring",
                                   "amount": "total", "method": bank_method(new_account())})
    assert status == 409 and again["error"]["code"] == "autopay_exists"
    await ach.run_cutoff(env.deps, day)
    env.bank.poll_once()
    await ach.run_returns(env.deps, date(2026, 4, 8))
    [ret] = await env.events("payment.returned", ban)
    assert ret["return_code"] == "R07" and ret["mandate_cancelled"] and not ret["will_retry"]
    [cancelled] = await env.events("autopay.cancelled", ban)
    assert cancelled["reason"].startswith("R07")
    assert (await env.client.get(f"/accounts/{ban}/autopay")).status == 404


async def test_autopay_killed_midway_then_rerun_drafts_each_mandate_once(payments_env):
    env = payments_env
    await env.pool.execute("UPDATE mandates SET status = 'cancelled' WHERE status = 'active'")
    bans = await seed_mandates(env.pool, env.deps.cipher, 4000, zero_every=10)
    owing = sum(1 for i in range(4000) if i % 10)
    day = date(2026, 5, 22)
    environ = {**os.environ, "PAYMENTS_DATABASE_URL": env.dsn, "PAYMENTS_AUTOPAY_BATCH": "40",
               "KAFKA_BOOTSTRAP": env.settings.kafka_bootstrap, "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.payments.cli", "autopay", "--date", day.isoformat(),
        cwd=ROOT, env=environ, stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    progress = 0
    while progress < 5:
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        assert line, "the run ended before it could be killed"
        progress += "mandates looked at" in line
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    cycle = "2026-05"
    partial = await env.pool.fetchval("SELECT count(*) FROM payments WHERE cycle = $1", cycle)
    assert 0 < partial < owing, partial
    # The killed run's database session ends when PostgreSQL notices the closed socket
    # (after any statement it was running); only then is its run lock free for the rerun.
    async def lock_free() -> bool:
        async with advisory_lock(env.pool, locks.PAYMENTS_AUTOPAY) as got:
            return got
    await wait_for(lock_free, timeout_s=30, what="the killed run's lock to be released")
    result = await autopay.run_autopay(env.deps, day)
    assert result["drafted"] == owing - partial
    rows = await env.pool.fetch("SELECT mandate_id, count(*) AS n FROM payments WHERE cycle = $1 "
                                "GROUP BY mandate_id", cycle)
    assert len(rows) == owing and all(r["n"] == 1 for r in rows)
    await env.tap.settled(env.pool)
    keys = set(bans)
    events = [e for e in env.tap.events("payment.submitted") if e.key in keys]
    assert len(events) == owing
    assert len({e.data["payment_id"] for e in events}) == owing


async def test_changing_the_autopay_method(payments_env):
    env = payments_env
    env.clock.set(date(2026, 6, 2))
    ban = new_ban()
    await env.open_account(ban, {2026: 9000})
    old, new = new_account(), new_account()
    assert (await _autopay(env, ban, old))[0] == 201
    r = await env.client.put(f"/accounts/{ban}/autopay/method", json={"method": bank_method(new, "savings")})
    mandate = await r.json()
    assert r.status == 200 and mandate["method"] == {"type": "savings", "last4": new[-4:]}
    assert mandate["authorization"]["method_last4"] == new[-4:]
    updates = await env.events("method.updated", ban)
    assert updates[-1]["reason"] == "autopay_method_changed" and updates[-1]["method"]["last4"] == new[-4:]
    # What the member's confirmation is made from: the new account's last four, the next
    # draft date and the mandate's contact; never a full number.
    [changed] = await env.events("autopay.updated", ban)
    assert changed["method"] == {"type": "savings", "last4": new[-4:]}
    assert changed["next_draft_date"] == mandate["next_draft_date"] == "2026-06-22"
    assert changed["reason"] == "method_changed" and changed["contact"]["email"]
    assert new not in str(changed) and old not in str(changed)
    bad = {**bank_method(new), "routing_number_confirmation": "021000021"}
    r = await env.client.put(f"/accounts/{ban}/autopay/method", json={"method": bad})
    assert r.status == 422
    await autopay.run_autopay(env.deps, date(2026, 6, 22))
    [draft, *_] = [e for e in await env.events("payment.submitted", ban)]
    assert draft["method"]["last4"] == new[-4:]


async def test_only_the_gateway_says_where_the_member_authorized_from(payments_env):
    """The authorization record keeps the member's address as the gateway reports it; any
    other caller's claim (in the body or X-Forwarded-For) gives way to its own address."""
    env = payments_env
    env.clock.set(date(2026, 3, 10))
    ban = new_ban()
    await env.open_account(ban, {2026: 31000})
    operator = service_client(env.service, caller="operator")
    await operator.start_server()
    try:
        r = await operator.post(f"/accounts/{ban}/autopay", headers={"X-Forwarded-For": "198.51.100.4"},
                                json={"idempotency_key": uuid.uuid4().hex, "method": bank_method(new_account()),
                                      "contact": CONTACT, "client_ip": "203.0.113.9"})
        assert r.status == 201, await r.text()
        mandate = await r.json()
    finally:
        await operator.close()
    row = await env.pool.fetchrow("SELECT authorized_ip FROM mandates WHERE mandate_id = $1::uuid",
                                  mandate["mandate_id"])
    assert str(row["authorized_ip"]) == "127.0.0.1"


async def test_a_saved_method_is_removed_but_not_the_one_autopay_draws_from(payments_env):
    env = payments_env
    env.clock.set(date(2026, 6, 2))
    ban = new_ban()
    await env.open_account(ban, {2026: 9000})
    paid_from, drafted_from = new_account(), new_account()
    status, body = await env.pay({"billing_account_number": ban, "kind": "one_time",
                                  "amount": "10.00", "method": bank_method(paid_from)})
    assert status == 201, body
    assert (await _autopay(env, ban, drafted_from))[0] == 201
    listed = (await (await env.client.get(f"/accounts/{ban}/methods")).json())["methods"]
    by_last4 = {m["last4"]: m for m in listed}
    assert by_last4[paid_from[-4:]]["autopay"] is False and by_last4[drafted_from[-4:]]["autopay"] is True

    in_use = by_last4[drafted_from[-4:]]["method_id"]
    r = await env.client.delete(f"/accounts/{ban}/methods/{in_use}")
    refused = await r.json()
    assert r.status == 409 and refused["error"]["code"] == "method_in_use"
    assert "cannot be removed" in refused["error"]["message"]

    gone = by_last4[paid_from[-4:]]["method_id"]
    assert (await env.client.delete(f"/accounts/{new_ban()}/methods/{gone}")).status == 404  # not that account's
    r = await env.client.delete(f"/accounts/{ban}/methods/{gone}")
    assert r.status == 200 and await r.json() == {"method_id": gone, "status": "removed"}
    assert (await env.client.delete(f"/accounts/{ban}/methods/{gone}")).status == 404  # once
    listed = (await (await env.client.get(f"/accounts/{ban}/methods")).json())["methods"]
    assert [m["last4"] for m in listed] == [drafted_from[-4:]]
    removed = [e for e in await env.events("method.updated", ban) if e["status"] == "removed"]
    assert [(e["method_id"], e["reason"], e["method"]["last4"]) for e in removed] == [
        (gone, "member_request", paid_from[-4:])]
    # The payment made with it keeps its history.
    [payment] = (await (await env.client.get(f"/accounts/{ban}/payments")).json())["payments"]
    assert payment["method"]["last4"] == paid_from[-4:]

    # Saving the same details again brings it back, the same method.
    status, body = await env.pay({"billing_account_number": ban, "kind": "one_time",
                                  "amount": "5.00", "method": bank_method(paid_from)})
    assert status == 201, body
    listed = (await (await env.client.get(f"/accounts/{ban}/methods")).json())["methods"]
    assert {m["method_id"] for m in listed} == {gone, in_use}


async def test_a_set_up_has_its_own_number_shows_its_terms_first_and_tells_what_still_happens(payments_env):
    env = payments_env
    env.clock.set(date(2026, 3, 10))
    ban = new_ban()
    await env.open_account(ban, {2026: 31000})
    terms = await (await env.client.get(f"/accounts/{ban}/autopay/terms")).json()
    assert terms["first_draft_date"] == "2026-03-23" and terms["draft_day"] == 22
    assert ban in terms["authorization_text"] and "day 22 of each month" in terms["authorization_text"]
    account = new_account()
    status, mandate = await _autopay(env, ban, account)
    assert status == 201 and mandate["confirmation_number"].startswith("AUT-")
    # The record kept is the terms shown, and the account they were given for.
    assert mandate["authorization"]["text"].startswith(terms["authorization_text"])
    [created] = await env.events("autopay.created", ban)
    assert created["confirmation_number"] == mandate["confirmation_number"]
    assert created["authorization_text"] == terms["authorization_text"]
    assert (await (await env.client.get(f"/accounts/{ban}/autopay")).json())["drafts_in_flight"] == []
    await autopay.run_autopay(env.deps, DRAFT_DAY)
    [draft] = await env.events("payment.submitted", ban)
    shown = await (await env.client.get(f"/accounts/{ban}/autopay")).json()
    assert [d["payment_id"] for d in shown["drafts_in_flight"]] == [draft["payment_id"]]
    # Cancelled after the draft was made: that draft still happens, and the answer says so.
    cancelled = await (await env.client.delete(f"/accounts/{ban}/autopay")).json()
    assert cancelled["confirmation_number"] == mandate["confirmation_number"]
    assert cancelled["drafts_in_flight"] == [{"payment_id": draft["payment_id"], "amount_cents": 31000,
                                              "expected_withdrawal_date": draft["expected_withdrawal_date"]}]
    # ...and so does the event the member's cancellation message is made from.
    [event] = await env.events("autopay.cancelled", ban)
    assert event["drafts_in_flight"] == cancelled["drafts_in_flight"]


async def test_a_spanish_set_up_shows_records_and_sends_the_terms_in_spanish(payments_env):
    env = payments_env
    env.clock.set(date(2026, 3, 10))
    ban = new_ban()
    await env.open_account(ban, {2026: 31000})
    terms = await (await env.client.get(f"/accounts/{ban}/autopay/terms?language=es")).json()
    assert terms["language"] == "es" and terms["first_draft_date"] == "2026-03-23"
    assert terms["authorization_text"].startswith("Autorizo a ")
    assert ban in terms["authorization_text"] and "el día 22 de cada mes" in terms["authorization_text"]
    account = new_account()
    r = await env.client.post(f"/accounts/{ban}/autopay", json={
        "idempotency_key": uuid.uuid4().hex, "method": bank_method(account),
        "contact": {**CONTACT, "language": "es"}, "client_ip": "203.0.113.9"})
    mandate = await r.json()
    assert r.status == 201, mandate
    # The record is the Spanish terms the member read, and the account in Spanish too.
    text = mandate["authorization"]["text"]
    assert text.startswith(terms["authorization_text"])
    assert f"Cuenta: cuenta corriente que termina en {account[-4:]}" in text
    [created] = await env.events("autopay.created", ban)
    assert created["authorization_text"] == terms["authorization_text"]
    # Anything but en or es is English.
    english = await (await env.client.get(f"/accounts/{ban}/autopay/terms?language=fr")).json()
    assert english["language"] == "en" and english["authorization_text"].startswith("I authorize ")


async def test_terms_read_in_spanish_are_the_record_though_messages_stay_in_english(payments_env):
    env = payments_env
    env.clock.set(date(2026, 3, 10))
    ban = new_ban()
    await env.open_account(ban, {2026: 31000})
    shown = await (await env.client.get(f"/accounts/{ban}/autopay/terms?language=es")).json()
    body = {"idempotency_key": uuid.uuid4().hex, "method": bank_method(new_account()),
            "contact": CONTACT, "client_ip": "203.0.113.9", "terms_language": "fr"}
    r = await env.client.post(f"/accounts/{ban}/autopay", json=body)
    assert r.status == 422 and "terms_language" in (await r.json())["error"]["fields"]
    r = await env.client.post(f"/accounts/{ban}/autopay", json={**body, "terms_language": "es"})
    mandate = await r.json()
    assert r.status == 201, mandate
    assert mandate["authorization"]["text"].startswith(shown["authorization_text"])
    [created] = await env.events("autopay.created", ban)
    assert created["authorization_text"] == shown["authorization_text"]
    assert created["contact"]["language"] == "en"  # the member's messages: their own language


async def test_a_recurring_payment_with_nothing_owed_today_is_confirmed_by_the_set_up_number(payments_env):
    env = payments_env
    env.clock.set(date(2026, 3, 10))
    ban = new_ban()
    await env.open_account(ban, {2026: 0})
    r = await env.client.post("/payments", json={
        "idempotency_key": uuid.uuid4().hex, "billing_account_number": ban, "kind": "recurring",
        "amount": "total", "method": bank_method(new_account()), "contact": CONTACT, "channel": "guest"})
    body = await r.json()
    assert r.status == 201, body
    assert body["payment_id"] is None and body["confirmation_number"].startswith("AUT-")
    assert body["autopay"]["confirmation_number"] == body["confirmation_number"]
    assert body["autopay"]["first_draft_date"] == "2026-03-23"
