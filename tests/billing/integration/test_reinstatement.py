"""Reinstatement after a termination for non-payment (956 CMR 12.12) against the real billing
service: the account answer's quote, a payment by the 35th day after the notice reinstates
(counted on the day it was made, though it settles later), a payment after it does not."""
from __future__ import annotations

from datetime import date

from services.billing.service_layer import jobs
from tests.billing.integration.test_member_year import cycle, settle
from tests.conftest import unique

PREMIUM = 200_00


async def terminated_member(billing) -> str:
    """Coverage from January 2027, February's premium never paid: a one-month grace period
    in February, terminated by the job of March 1 (noticed then), back to January 31."""
    billing.clock.fix(date(2026, 12, 5))
    ban = await billing.enroll(household_id=unique("HH-"), coverage_start=date(2027, 1, 1),
                               premium_cents=PREMIUM, aptc=False)
    await settle(billing, ban, PREMIUM, date(2026, 12, 10))
    await cycle(billing, date(2027, 1, 5))
    await cycle(billing, date(2027, 2, 5))
    for day in (date(2027, 1, 24), date(2027, 3, 1)):
        billing.clock.fix(day)
        await jobs.delinquency(billing.pool, day)
    await cycle(billing, date(2027, 3, 5))  # April is not billed while terminated
    return ban


async def pay(billing, ban: str, cents: int, made_on: date, settled_on: date) -> None:
    payment_id = unique("pay-")
    billing.clock.fix(made_on)
    await billing.applied(await billing.publish_payment("payment.submitted", ban, payment_id, cents))
    billing.clock.fix(settled_on)
    await billing.applied(await billing.publish_payment(
        "payment.settled", ban, payment_id, cents, settled_on=settled_on.isoformat()))


async def test_the_quote_and_a_payment_made_on_the_last_day_reinstates(billing):
    ban = await terminated_member(billing)
    [terminated] = await billing.outbox(ban, "coverage.terminated")
    assert (terminated["reinstatement_amount_cents"], terminated["reinstate_by"]) == (2 * PREMIUM, "2027-04-05")
    billing.clock.fix(date(2027, 3, 10))
    s = await billing.summary(ban)
    assert s["status"] == "terminated" and s["total_balance_cents"] == 2 * PREMIUM
    q = s["reinstatement"]
    assert {k: q[k] for k in ("possible", "amount_cents", "pay_by", "noticed_on", "terminated_on",
                              "plan_type", "then_billed_cents")} == {
        "possible": True, "amount_cents": 2 * PREMIUM, "pay_by": "2027-04-05",
        "noticed_on": "2027-03-01", "terminated_on": "2027-01-31", "plan_type": "health",
        "then_billed_cents": PREMIUM}
    assert [(r["coverage_start"], r["restored_from"], r["then_billed_months"]) for r in q["restores"]] == \
        [("2027-01-01", "2027-02-01", ["2027-04"])]
    # Less than the quote pays down the balance and restores nothing.
    await pay(billing, ban, 50_00, date(2027, 3, 12), date(2027, 3, 15))
    assert (await billing.summary(ban))["reinstatement"]["amount_cents"] == 2 * PREMIUM - 50_00
    assert not any(e.get("reinstated") for e in await billing.outbox(ban, "coverage.effectuated"))
    # The rest made on the last day, settled two days later: reinstated.
    await pay(billing, ban, 2 * PREMIUM - 50_00, date(2027, 4, 5), date(2027, 4, 7))
    reinstated = [e for e in await billing.outbox(ban, "coverage.effectuated") if e.get("reinstated")]
    assert [e["coverage_start"] for e in reinstated] == ["2027-01-01"]
    s = await billing.summary(ban)
    assert s["reinstatement"] is None and s["status"] != "terminated"
    assert (await billing.months(ban))[-2:] == ["2027-04", "2027-05"]  # then billed
    assert s["total_balance_cents"] == 2 * PREMIUM
    assert await jobs.reconcile(billing.pool) == []


async def test_a_payment_made_after_the_35th_day_pays_the_balance_but_does_not_reinstate(billing):
    ban = await terminated_member(billing)
    billing.clock.fix(date(2027, 4, 6))
    q = (await billing.summary(ban))["reinstatement"]
    assert (q["possible"], q["pay_by"]) == (False, "2027-04-05")
    await pay(billing, ban, 2 * PREMIUM, date(2027, 4, 6), date(2027, 4, 8))
    s = await billing.summary(ban)
    assert s["total_balance_cents"] == 0 and s["status"] == "terminated"
    assert s["reinstatement"]["possible"] is False
    assert not [e for e in await billing.outbox(ban, "coverage.effectuated") if e.get("reinstated")]
    assert await billing.months(ban) == ["2027-01", "2027-02", "2027-03"]  # nothing more billed
