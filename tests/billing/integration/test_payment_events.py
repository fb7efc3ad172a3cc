"""Payment events redelivered, reordered and for unknown accounts: balances stay right."""
from __future__ import annotations

import asyncio
import random
from datetime import date

from aiohttp.test_utils import TestClient

from services.billing.service_layer import jobs
from tests.conftest import unique


async def test_redelivered_and_reordered_payment_events_give_the_same_balances(billing):
    billing.clock.fix(date(2026, 12, 1))
    in_order = await billing.enroll(household_id=unique("HH-"), coverage_start=date(2027, 1, 1),
                                    premium_cents=400_00)
    shuffled = await billing.enroll(household_id=unique("HH-"), coverage_start=date(2027, 1, 1),
                                    premium_cents=400_00)

    def story(ban: str) -> list[tuple]:
        # Two payments: one settles; one settles and then comes back (R09).
        return [("payment.submitted", ban, "p1", 250_00), ("payment.settled", ban, "p1", 250_00),
                ("payment.submitted", ban, "p2", 150_00), ("payment.settled", ban, "p2", 150_00),
                ("payment.returned", ban, "p2", 150_00)]

    async def play(ban: str, steps: list[tuple], shuffle: bool) -> None:
        ids = {"p1": unique("pay-"), "p2": unique("pay-")}
        events = []
        for event_type, b, p, cents in steps:
            events.append(await billing.publish_payment(event_type, b, ids[p], cents))
        if shuffle:  # the same events again, in another order, twice over
            again = events * 2
            random.Random(7).shuffle(again)
            await billing.send(*again)
        for e in events:
            await billing.applied(e)

    await play(in_order, story(in_order), shuffle=False)
    await play(shuffled, story(shuffled), shuffle=True)
    await asyncio.sleep(1.0)  # the shuffled copies have all been consumed by now
    a, b = await billing.summary(in_order), await billing.summary(shuffled)
    assert a["total_balance_cents"] == 150_00 == b["total_balance_cents"]
    assert a["pending_payments_cents"] == b["pending_payments_cents"] == 0
    assert len(await billing.outbox(shuffled, "payment.applied")) <= 2
    assert await jobs.reconcile(billing.pool) == []


async def test_a_return_that_arrives_before_its_settlement_is_never_credited(billing):
    billing.clock.fix(date(2026, 12, 1))
    ban = await billing.enroll(household_id=unique("HH-"), coverage_start=date(2027, 1, 1),
                               premium_cents=100_00)
    pid = unique("pay-")
    returned = await billing.publish_payment("payment.returned", ban, pid, 100_00)
    await billing.applied(returned)
    settled = await billing.publish_payment("payment.settled", ban, pid, 100_00)
    await billing.applied(settled)
    assert await billing.balance(ban) == 100_00
    assert await billing.outbox(ban, "payment.applied") == []


async def test_http_answers_for_unknown_and_malformed_accounts_and_statements(billing):
    client: TestClient = billing.client
    assert (await client.get("/accounts/7000000000")).status == 404  # bad check digit
    r = await client.get("/accounts/1234")
    assert r.status == 404 and (await r.json())["error"]["code"] == "not_found"
    assert (await client.get("/accounts")).status == 422
    billing.clock.fix(date(2026, 12, 1))
    ban = await billing.enroll(household_id=unique("HH-"), coverage_start=date(2027, 1, 1),
                               premium_cents=123_45)
    month = "2026-12"  # the business month the binder was billed in
    empty = await (await client.get(f"/accounts/{ban}/statements/2026-11")).json()
    assert empty["entries"] == [] and empty["opening_cents"] == empty["closing_cents"] == 0
    st = await (await client.get(f"/accounts/{ban}/statements/{month}")).json()
    assert st["month"] == month and st["account"]["billing_account_number"] == ban
    assert [(e["kind"], e["amount_cents"], e["coverage_month"]) for e in st["entries"]] == \
        [("invoice", 123_45, "2027-01")]
    assert st["closing_cents"] == 123_45
    assert (await client.get(f"/accounts/{ban}/statements/2026-13")).status == 422
    invoices = (await (await client.get(f"/accounts/{ban}/invoices")).json())["invoices"]
    assert invoices[0]["amount_cents"] == 123_45 and invoices[0]["kind"] == "binder"


async def test_payment_plan_spreads_past_due_and_suspends_delinquency(billing):
    billing.clock.fix(date(2026, 12, 1))
    ban = await billing.enroll(household_id=unique("HH-"), coverage_start=date(2027, 1, 1),
                               premium_cents=300_00)
    pid = unique("pay-")
    await billing.applied(await billing.publish_payment("payment.settled", ban, pid, 300_00))
    await jobs.invoice_cycle(billing.pool, date(2027, 1, 5))
    billing.clock.fix(date(2027, 1, 26))
    r = await billing.client.post(f"/accounts/{ban}/payment-plan", json={"months": 3})
    assert r.status == 201, await r.text()
    plan = await r.json()
    assert [s["amount_cents"] for s in plan["schedule"]] == [100_00, 100_00, 100_00]
    assert plan["schedule"][0]["due_date"] == "2027-02-23"
    again = await billing.client.post(f"/accounts/{ban}/payment-plan", json={"months": 3})
    assert again.status == 409 and (await again.json())["error"]["reason"] == "plan_exists"
    s = await billing.summary(ban)
    assert s["status"] == "payment_plan" and s["payment_plan_offer"]["reason"] == "plan_exists"
    assert (s["coverage"]["keep_coverage_by"], s["coverage"]["amount_to_keep_cents"]) == \
        ("2027-02-23", 100_00)
    # Current on the plan: no grace period starts.
    await jobs.delinquency(billing.pool, date(2027, 1, 27))
    assert await billing.outbox(ban, "account.delinquent") == []
    shown = await (await billing.client.get(f"/accounts/{ban}/payment-plan")).json()
    assert shown["status"] == "current" and shown["suspends_delinquency"] is True
    assert [i["status"] for i in shown["schedule"]] == ["due", "upcoming", "upcoming"]
    # An installment missed: the plan is broken and delinquency proceeds.
    billing.clock.fix(date(2027, 2, 25))
    await jobs.delinquency(billing.pool, date(2027, 2, 25))
    assert [n["stage"] for n in await billing.outbox(ban, "account.delinquent")] == ["grace_started"]
    assert (await billing.summary(ban))["payment_plan"] is None
    shown = await (await billing.client.get(f"/accounts/{ban}/payment-plan")).json()
    assert shown["status"] == "broken" and shown["schedule"][0]["status"] == "missed"


async def test_coverage_already_in_force_arrives_active_and_billed_for_next_month(billing):
    billing.clock.fix(date(2026, 11, 23))
    ban = await billing.enroll(household_id=unique("HH-"), coverage_start=date(2026, 1, 1),
                               premium_cents=94_00)
    s = await billing.summary(ban)
    assert [(line["status"], line["balance_cents"], line["due_date"]) for line in s["lines"]] == \
        [("due", 94_00, "2026-11-23")]
    assert [i["coverage_month"] for i in await billing.outbox(ban, "invoice.issued")] == ["2026-12"]
    assert await billing.pool.fetchval(
        "SELECT status FROM lines WHERE billing_account_number = $1", ban) == "active"
    # Today's cycle running afterwards bills nothing twice.
    await jobs.invoice_cycle(billing.pool, date(2026, 11, 23))
    assert await billing.months(ban) == ["2026-12"]
