"""One-time payments through the HTTP API: amounts, allocations, idempotency, cards."""
from __future__ import annotations

import asyncio
import uuid

from tests.payments.conftest import CONTACT, bank_method, card_method, new_account, new_ban


async def test_total_owed_by_bank_account(payments_env):
    env = payments_env
    ban = new_ban()
    await env.open_account(ban, {2025: 12000, 2026: 30050})
    account = new_account()
    status, body = await env.pay({"billing_account_number": ban, "kind": "one_time",
                                  "amount": "total", "method": bank_method(account)})
    assert status == 201, body
    assert body["status"] == "pending" and body["amount_cents"] == 42050
    assert body["confirmation_number"].startswith("PMT-")
    # Submitted Monday 2026-03-02 10:00 (before the cutoff): two banking days out.
    assert body["expected_withdrawal_date"] == "2026-03-04"
    [event] = await env.events("payment.submitted", ban)
    assert event["amount_cents"] == 42050 and event["kind"] == "one_time"
    assert event["allocations"] == [{"coverage_year": 2025, "amount_cents": 12000},
                                    {"coverage_year": 2026, "amount_cents": 30050}]
    assert event["method"] == {"type": "checking", "last4": account[-4:]}
    assert event["contact"]["email"] == CONTACT["email"] and event["channel"] == "guest"
    r = await env.client.get(f"/payments/{body['payment_id']}")
    assert (await r.json())["status"] == "pending"
    [method] = (await (await env.client.get(f"/accounts/{ban}/methods")).json())["methods"]
    assert method["last4"] == account[-4:] and method["status"] == "active"
    [updated] = await env.events("method.updated", ban)
    assert updated["status"] == "active"


async def test_typed_amount_split_as_chosen(payments_env):
    env = payments_env
    ban = new_ban()
    await env.open_account(ban, {2025: 10000, 2026: 20000})
    status, body = await env.pay({
        "billing_account_number": ban, "kind": "one_time", "amount": "150.25",
        "allocations": [{"coverage_year": 2025, "amount": "50.25"},
                        {"coverage_year": 2026, "amount": "100.00"}],
        "method": bank_method(new_account(), "savings")})
    assert status == 201, body
    [event] = await env.events("payment.submitted", ban)
    assert event["allocations"] == [{"coverage_year": 2025, "amount_cents": 5025},
                                    {"coverage_year": 2026, "amount_cents": 10000}]
    assert event["method"]["type"] == "savings"


async def test_bad_amounts_are_refused_and_nothing_is_charged(payments_env):
    env = payments_env
    ban = new_ban()
    await env.open_account(ban, {2026: 20000})
    method = bank_method(new_account())
    for amount, expect in [("0", "more than zero"), ("0.00", "more than zero"),
                           ("-5.00", "more than zero"), ("10.005", "two digits"),
                           ("1e2", "exponents"), ("1E+2", "exponents"), ("12,50", "dollars"),
                           ("200.01", "more than this account allows"), (125, "dollars")]:
        status, body = await env.pay({"billing_account_number": ban, "kind": "one_time",
                                      "amount": amount, "method": method})
        assert status == 422, (amount, body)
        assert expect in body["error"]["fields"]["amount"], (amount, body)
    status, body = await env.pay({
        "billing_account_number": ban, "kind": "one_time", "amount": "100.00",
        "allocations": [{"coverage_year": 2026, "amount": "90.00"}], "method": method})
    assert status == 422 and "add up" in body["error"]["fields"]["allocations"]
    assert await env.events("payment.submitted", ban) == []
    assert await env.pool.fetchval("SELECT count(*) FROM payments WHERE billing_account_number = $1", ban) == 0


async def test_bad_bank_details_are_refused(payments_env):
    env = payments_env
    ban = new_ban()
    await env.open_account(ban, {2026: 20000})
    account = new_account()
    typo = account[:-1] + str((int(account[-1]) + 1) % 10)  # differs in the last digit
    cases = [
        ({**bank_method(account), "account_number_confirmation": typo},
         "method.account_number_confirmation", "do not match"),
        ({**bank_method(account), "routing_number": "011000016", "routing_number_confirmation": "011000016"},
         "method.routing_number", "not a valid routing number"),
        ({**bank_method(account), "routing_number_confirmation": "021000021"},
         "method.routing_number_confirmation", "do not match"),
        (bank_method("123"), "method.account_number", "4 to 17 digits"),
        (bank_method("1" * 18), "method.account_number", "4 to 17 digits"),
    ]
    for method, field, text in cases:
        status, body = await env.pay({"billing_account_number": ban, "kind": "one_time",
                                      "amount": "total", "method": method})
        assert status == 422 and text in body["error"]["fields"][field], body
        assert account not in str(body)
    assert await env.pool.fetchval("SELECT count(*) FROM payments WHERE billing_account_number = $1", ban) == 0
    assert await env.pool.fetchval("SELECT count(*) FROM methods WHERE billing_account_number = $1", ban) == 0


async def test_unknown_account_is_refused(payments_env):
    status, body = await payments_env.pay({"billing_account_number": new_ban(), "kind": "one_time",
                                           "amount": "10.00", "method": bank_method(new_account())})
    assert status == 404 and body["error"]["code"] == "unknown_account"


async def test_idempotency_retry_and_conflict(payments_env):
    env = payments_env
    ban = new_ban()
    await env.open_account(ban, {2026: 20000})
    key = uuid.uuid4().hex
    body = {"billing_account_number": ban, "kind": "one_time", "amount": "50.00",
            "method": bank_method(new_account())}
    s1, first = await env.pay(body, key)
    s2, again = await env.pay(body, key)
    assert (s1, s2) == (201, 200) and again == first
    s3, other = await env.pay({**body, "amount": "60.00"}, key)
    assert s3 == 409 and other["error"]["code"] == "idempotency_conflict"
    assert len(await env.events("payment.submitted", ban)) == 1


async def test_hundred_concurrent_submissions_make_one_payment(payments_env):
    env = payments_env
    ban = new_ban()
    await env.open_account(ban, {2026: 20000})
    key = uuid.uuid4().hex
    body = {"billing_account_number": ban, "kind": "one_time", "amount": "total",
            "method": bank_method(new_account())}
    results = await asyncio.gather(*(env.pay(body, key) for _ in range(100)))
    statuses = sorted(s for s, _ in results)
    assert statuses.count(201) == 1 and statuses.count(200) == 99, statuses
    assert len({b["payment_id"] for _, b in results}) == 1
    assert await env.pool.fetchval("SELECT count(*) FROM payments WHERE billing_account_number = $1", ban) == 1
    assert len(await env.events("payment.submitted", ban)) == 1


async def test_card_approved_settles_at_once(payments_env):
    env = payments_env
    ban = new_ban()
    await env.open_account(ban, {2026: 20000})
    status, body = await env.pay({"billing_account_number": ban, "kind": "one_time",
                                  "amount": "total", "method": card_method("5555555555554444")})
    assert status == 201 and body["status"] == "settled", body
    [submitted] = await env.events("payment.submitted", ban)
    [settled] = await env.events("payment.settled", ban)
    assert submitted["method"] == {"type": "card", "last4": "4444", "brand": "mastercard"}
    assert settled["settled_on"] == "2026-03-02"
    charges = [c for c in env.card.charges.values() if c["last4"] == "4444" and c["amount_cents"] == 20000]
    assert charges and charges[0]["status"] == "succeeded"


async def test_card_declines_and_bad_cards(payments_env):
    env = payments_env
    ban = new_ban()
    await env.open_account(ban, {2026: 20000})
    status, body = await env.pay({"billing_account_number": ban, "kind": "one_time",
                                  "amount": "total", "method": card_method("4000000000009995")})
    assert status == 402 and body["error"]["code"] == "card_declined"
    assert body["error"]["reason_code"] == "insufficient_funds"
    [failed] = await env.events("payment.failed", ban)
    assert failed["reason_code"] == "insufficient_funds"
    assert await env.events("payment.submitted", ban) == []
    for method, field, text in [
        (card_method("4242424242424241"), "method.card_number", "not valid"),
        (card_method("4242424242424242", year=2025), "method.expiry_month", "expired"),
        ({**card_method(), "cvv": "12"}, "method.cvv", "security code"),
    ]:
        charges_before = len(env.card.charges)
        status, body = await env.pay({"billing_account_number": ban, "kind": "one_time",
                                      "amount": "total", "method": method})
        assert status == 422 and text in body["error"]["fields"][field], body
        assert len(env.card.charges) == charges_before
    assert await env.pool.fetchval(
        "SELECT count(*) FROM payments WHERE billing_account_number = $1 AND status <> 'failed'", ban) == 0


async def test_cards_off_by_program_setting(payments_env):
    env = payments_env
    ban = new_ban()
    await env.open_account(ban, {2026: 20000})
    env.deps.settings.cards_enabled = False
    try:
        status, body = await env.pay({"billing_account_number": ban, "kind": "one_time",
                                      "amount": "total", "method": card_method()})
        config = await (await env.client.get("/config")).json()
    finally:
        env.deps.settings.cards_enabled = True
    assert status == 422 and "Cards are not accepted" in body["error"]["fields"]["method.type"]
    assert config == {"cards_enabled": False, "program": "health_connector",
                      "overpay_max_cents": 0, "payment_max_cents": 5_000_000,
                      "account_validation": "none"}


async def test_paying_the_total_twice_does_not_charge_twice(payments_env):
    # Billing's balance only drops once a payment settles; until then the payment in flight
    # is subtracted, so a second "total" (a double click with a new key, or two tabs) finds
    # nothing left to pay, and a typed amount is capped by what is really still owed.
    env = payments_env
    ban = new_ban()
    await env.open_account(ban, {2026: 20000})
    first = {"billing_account_number": ban, "kind": "one_time", "amount": "total",
             "method": bank_method(new_account())}
    status, body = await env.pay(first)
    assert status == 201 and body["amount_cents"] == 20000, body
    status, body = await env.pay(dict(first))
    assert status == 422, body
    assert "nothing to pay" in body["error"]["fields"]["amount"].lower()
    assert len(await env.events("payment.submitted", ban)) == 1


async def test_a_total_that_changed_since_review_is_refused_and_nothing_is_charged(payments_env):
    env = payments_env
    ban = new_ban()
    await env.open_account(ban, {2026: 20000})
    method = bank_method(new_account())
    status, body = await env.pay({"billing_account_number": ban, "kind": "one_time", "amount": "50.00",
                                  "method": method})
    assert status == 201
    key = uuid.uuid4().hex
    reviewed = {"billing_account_number": ban, "kind": "one_time", "amount": "total",
                "expected_amount": "200.00", "method": method}
    status, body = await env.pay(reviewed, key)
    assert status == 409 and body["error"]["code"] == "amount_changed"
    assert body["error"]["current_amount_cents"] == 15000
    async with env.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM payments WHERE billing_account_number = $1", ban) == 1
    r = await env.client.get(f"/accounts/{ban}/standing")
    standing = await r.json()
    pending = standing["pending"]
    assert standing["autopay"] is None  # a one-time payment sets up no recurring one
    assert pending["pending_total_cents"] == 5000 and [p["amount_cents"] for p in pending["payments"]] == [5000]
    status, body = await env.pay({**reviewed, "expected_amount": "150.00"}, key)  # the same key, reviewed again
    assert status == 201 and body["amount_cents"] == 15000
    status, body = await env.pay({**reviewed, "expected_amount": "1.5e2"})
    assert status == 422 and "expected_amount" in body["error"]["fields"]
    submitted = await env.events("payment.submitted", ban)
    assert [(e["attempt"], e["retry_of"]) for e in submitted] == [(1, None), (1, None)]


async def test_a_payer_without_a_phone_pays_and_the_event_carries_no_phone(payments_env):
    env = payments_env
    ban = new_ban()
    await env.open_account(ban, {2026: 15000})
    no_phone = {"email": CONTACT["email"], "email_confirmation": CONTACT["email"], "phone": None,
                "language": "en"}
    status, body = await env.pay({"billing_account_number": ban, "kind": "one_time", "amount": "50.00",
                                  "method": bank_method(new_account()), "contact": no_phone})
    assert status == 201, body
    left_out = {k: v for k, v in no_phone.items() if k != "phone"}
    status, body = await env.pay({"billing_account_number": ban, "kind": "one_time", "amount": "25.00",
                                  "method": bank_method(new_account()), "contact": left_out})
    assert status == 201, body
    status, body = await env.pay({"billing_account_number": ban, "kind": "one_time", "amount": "10.00",
                                  "method": bank_method(new_account())})  # with the payer's phone
    assert status == 201, body
    events = await env.events("payment.submitted", ban)
    assert [e["contact"]["phone"] for e in events] == [None, None, CONTACT["phone"]]
