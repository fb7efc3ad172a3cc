"""A year of one member's life, date by date, against the real billing service: the balance
is right to the cent at every step, and subscribers see the events of each step."""
from __future__ import annotations

from datetime import date

from services.billing.service_layer import jobs
from tests.conftest import unique

PREMIUM = 312_47  # $312.47 a month


async def cycle(billing, day: date) -> dict:
    billing.clock.fix(day)
    return await jobs.invoice_cycle(billing.pool, day)


async def settle(billing, ban: str, cents: int, day: date, **extra) -> str:
    billing.clock.fix(day)
    payment_id = unique("pay-")
    submitted = await billing.publish_payment("payment.submitted", ban, payment_id, cents)
    await billing.applied(submitted)
    settled = await billing.publish_payment("payment.settled", ban, payment_id, cents,
                                            settled_on=day.isoformat(), **extra)
    await billing.applied(settled)
    return payment_id


async def test_a_year_of_binder_invoices_payments_return_grace_termination_reinstatement(billing):
    household = unique("HH-")
    billing.clock.fix(date(2026, 12, 5))
    ban = await billing.enroll(household_id=household, coverage_start=date(2027, 1, 1),
                               premium_cents=PREMIUM, aptc=False)
    s = await billing.summary(ban)
    assert s["total_balance_cents"] == PREMIUM
    assert s["lines"][0]["due_date"] == "2026-12-23" and s["lines"][0]["status"] == "pending_binder"
    assert s["status"] == "pending_binder"
    # Payments hears that the line's binder is owed (it may send the debit Same Day ACH).
    assert [ln["binder"] for ln in (await billing.outbox(ban, "balance.changed"))[-1]["lines"]] == [True]
    assert (s["coverage"]["pay_by"], s["coverage"]["starts_on"]) == ("2026-12-23", "2027-01-01")
    assert s["payment_plan_offer"] == {"eligible": False, "reason": "nothing_past_due",
                                       "past_due_cents": 0, "months_min": 2, "months_max": 12,
                                       "first_due_date": "2026-12-23"}
    assert (await billing.outbox(ban, "invoice.issued"))[0]["kind"] == "binder"
    assert (await billing.outbox(ban, "account.opened"))[0]["billing_account_number"] == ban

    # A payment submitted is shown as pending, not credited.
    billing.clock.fix(date(2026, 12, 10))
    pending = await billing.publish_payment("payment.submitted", ban, unique("pay-"), PREMIUM)
    await billing.applied(pending)
    s = await billing.summary(ban)
    assert s["pending_payments_cents"] == PREMIUM and s["total_balance_cents"] == PREMIUM
    # Settled: the binder is paid, coverage is effectuated.
    settled = await billing.publish_payment("payment.settled", ban, pending.data["payment_id"],
                                            PREMIUM, settled_on="2026-12-14")
    await billing.applied(settled)
    s = await billing.summary(ban)
    assert s["total_balance_cents"] == 0 and s["pending_payments_cents"] == 0
    assert [e["coverage_start"] for e in await billing.outbox(ban, "coverage.effectuated")] == ["2027-01-01"]
    assert [ln["binder"] for ln in (await billing.outbox(ban, "balance.changed"))[-1]["lines"]] == [False]
    applied = await billing.outbox(ban, "payment.applied")
    assert applied[0]["allocations"] == [{"coverage_year": 2027, "coverage_month": "2027-01",
                                          "amount_cents": PREMIUM}]

    # January: February's premium billed, due Jan 23; a second run changes nothing.
    await cycle(billing, date(2027, 1, 5))
    await cycle(billing, date(2027, 1, 5))
    assert await billing.months(ban) == ["2027-01", "2027-02"]
    assert await billing.balance(ban) == PREMIUM
    assert (await billing.summary(ban))["lines"][0]["due_date"] == "2027-01-23"
    await settle(billing, ban, PREMIUM, date(2027, 1, 20))  # on time
    assert await billing.balance(ban) == 0

    # February: March billed; not paid by the 23rd -> a one-month grace period begins.
    await cycle(billing, date(2027, 2, 5))
    billing.clock.fix(date(2027, 2, 24))
    await jobs.delinquency(billing.pool, date(2027, 2, 24))
    await jobs.delinquency(billing.pool, date(2027, 2, 24))
    assert len(await billing.outbox(ban, "account.delinquent")) == 1
    s = await billing.summary(ban)
    assert s["status"] == "in_grace" and s["delinquency"]["grace_end"] == "2027-03-31"
    # The coverage clock: paid through February, one month of grace (no APTC) ending March 31,
    # after which coverage would end the day before grace began.
    assert {k: s["coverage"][k] for k in ("paid_through", "grace_type", "keep_coverage_by",
                                          "ends_if_unpaid", "amount_to_keep_cents")} == {
        "paid_through": "2027-02-28", "grace_type": "standard_1_month",
        "keep_coverage_by": "2027-03-31", "ends_if_unpaid": "2027-02-28",
        "amount_to_keep_cents": PREMIUM}
    assert s["payment_plan_offer"]["eligible"] is True
    notice = (await billing.outbox(ban, "account.delinquent"))[0]
    assert notice["stage"] == "grace_started" and notice["past_due_cents"] == PREMIUM
    # Paid late, inside grace: grace ends.
    await settle(billing, ban, PREMIUM, date(2027, 3, 1))
    s = await billing.summary(ban)
    assert s["total_balance_cents"] == 0 and s["delinquency"] is None

    # March: April billed and paid, then the payment comes back (R01): its credit reversed.
    await cycle(billing, date(2027, 3, 5))
    paid = await settle(billing, ban, PREMIUM, date(2027, 3, 20))
    assert await billing.balance(ban) == 0
    billing.clock.fix(date(2027, 3, 26))
    returned = await billing.publish_payment("payment.returned", ban, paid, PREMIUM, return_code="R01")
    await billing.applied(returned)
    assert await billing.balance(ban) == PREMIUM
    reversed_ = (await billing.outbox(ban, "payment.reversed"))[0]
    assert reversed_["amount_cents"] == PREMIUM and reversed_["return_code"] == "R01"
    # March's statement: March's late premium owed at the start, then its payment, April
    # billed, paid, and the return; the closing balance is what is owed.
    st = await (await billing.client.get(f"/accounts/{ban}/statements/2027-03")).json()
    kinds = [e["kind"] for e in st["entries"]]
    assert kinds.count("payment") == 2 and "reversal" in kinds
    assert st["opening_cents"] == 312_47 and st["closing_cents"] == 312_47

    # April: May billed on top; unpaid -> grace (April), then termination on May 1,
    # retroactive to the last day of the last month paid for (March 31).
    await cycle(billing, date(2027, 4, 5))
    assert await billing.balance(ban) == 2 * PREMIUM
    billing.clock.fix(date(2027, 4, 24))
    await jobs.delinquency(billing.pool, date(2027, 4, 24))
    billing.clock.fix(date(2027, 5, 1))
    await jobs.delinquency(billing.pool, date(2027, 5, 1))
    terminated = (await billing.outbox(ban, "coverage.terminated"))[0]
    assert terminated["effective_date"] == "2027-03-31" and terminated["reason"] == "non_payment"
    s = await billing.summary(ban)
    assert s["status"] == "terminated" and s["total_balance_cents"] == 2 * PREMIUM
    await cycle(billing, date(2027, 5, 5))
    assert (await billing.months(ban))[-1] == "2027-05"  # June is not billed after termination

    # Paying everything owed reinstates the coverage, and June (skipped while terminated)
    # is billed at once, due on its usual date.
    await settle(billing, ban, 2 * PREMIUM, date(2027, 5, 10))
    s = await billing.summary(ban)
    assert s["total_balance_cents"] == PREMIUM and s["lines"][0]["status"] == "due"
    assert s["lines"][0]["due_date"] == "2027-05-23" and s["delinquency"] is None
    reinstated = await billing.outbox(ban, "coverage.effectuated")
    assert reinstated[-1].get("reinstated") is True
    assert (await billing.months(ban))[-2:] == ["2027-05", "2027-06"]
    await settle(billing, ban, PREMIUM, date(2027, 5, 20))
    assert await billing.balance(ban) == 0
    await cycle(billing, date(2027, 6, 5))
    assert (await billing.months(ban))[-3:] == ["2027-05", "2027-06", "2027-07"]  # billing resumes
    assert await billing.balance(ban) == PREMIUM

    # The ledger agrees with itself, until someone corrupts it.
    assert await jobs.reconcile(billing.pool) == []
    await billing.pool.execute(
        """INSERT INTO ledger (billing_account_number, coverage_year, coverage_month, invoice_id,
                               kind, amount_cents)
           SELECT billing_account_number, coverage_year, coverage_month, invoice_id, 'payment', -100
           FROM invoices WHERE billing_account_number = $1 ORDER BY coverage_month LIMIT 1""", ban)
    problems = await jobs.reconcile(billing.pool)
    assert [p["billing_account_number"] for p in problems] == [ban, ban]
    assert "invoice 31247 paid 31247 but ledger billed 31247 paid 31347" in problems[0]["problem"]


async def test_aptc_members_get_three_months_of_grace(billing):
    billing.clock.fix(date(2026, 12, 1))
    ban = await billing.enroll(household_id=unique("HH-"), coverage_start=date(2027, 1, 1),
                               premium_cents=100_00, aptc=True)
    await settle(billing, ban, 100_00, date(2026, 12, 2))
    for day in (date(2027, 1, 5), date(2027, 2, 5), date(2027, 3, 5), date(2027, 4, 5)):
        await cycle(billing, day)
    for day in (date(2027, 1, 24), date(2027, 2, 24), date(2027, 3, 24), date(2027, 4, 24)):
        billing.clock.fix(day)
        await jobs.delinquency(billing.pool, day)
    stages = [(n["stage"], n["month_of_grace"]) for n in await billing.outbox(ban, "account.delinquent")]
    assert stages == [("grace_started", 1), ("grace_notice", 2), ("grace_notice", 3)]
    assert (await billing.summary(ban))["delinquency"]["grace_end"] == "2027-04-30"
    billing.clock.fix(date(2027, 5, 1))
    await jobs.delinquency(billing.pool, date(2027, 5, 1))
    terminated = (await billing.outbox(ban, "coverage.terminated"))[0]
    assert terminated["effective_date"] == "2027-02-28"  # end of the first grace month


async def test_open_enrollment_shows_both_years_and_directed_payments(billing):
    household = unique("HH-")
    billing.clock.fix(date(2025, 12, 1))
    ban = await billing.enroll(household_id=household, coverage_start=date(2026, 1, 1),
                               premium_cents=200_00)
    await settle(billing, ban, 200_00, date(2025, 12, 2))
    await cycle(billing, date(2026, 11, 3))  # December 2026 billed
    billing.clock.fix(date(2026, 11, 5))  # open enrollment: the renewal adds 2027
    assert await billing.enroll(household_id=household, coverage_start=date(2027, 1, 1),
                                premium_cents=250_00) == ban
    s = await billing.summary(ban)
    assert [(line["coverage_year"], line["balance_cents"], line["current_premium_cents"]) for line in s["lines"]] == \
        [(2026, 200_00, 200_00), (2027, 250_00, 250_00)]
    assert s["total_balance_cents"] == 450_00
    opened = await billing.outbox(ban, "account.opened")
    assert opened[-1]["coverage_years"] == [2026, 2027]
    # The member pays the new year only.
    await settle(billing, ban, 250_00, date(2026, 11, 10),
                 allocations=[{"coverage_year": 2027, "amount_cents": 250_00}])
    s = await billing.summary(ban)
    assert [line["balance_cents"] for line in s["lines"]] == [200_00, 0]
    # An overpayment is kept as credit and used by the next bill.
    await settle(billing, ban, 300_00, date(2026, 11, 12))
    s = await billing.summary(ban)
    assert s["total_balance_cents"] == -100_00 and s["credit_cents"] == 100_00
    await cycle(billing, date(2027, 1, 5))  # February 2027 billed (250.00), credit used
    assert await billing.balance(ban) == 150_00
    assert await jobs.reconcile(billing.pool) == []


async def test_premium_change_takes_effect_from_the_next_cycle(billing):
    household = unique("HH-")
    billing.clock.fix(date(2026, 12, 1))
    enrollment_id = unique("E")
    ban = await billing.enroll(household_id=household, coverage_start=date(2027, 1, 1),
                               premium_cents=100_00, enrollment_id=enrollment_id)
    await billing.enroll(household_id=household, coverage_start=date(2027, 1, 1),
                         premium_cents=120_00, enrollment_id=enrollment_id,
                         event_type="enrollment.updated")
    async def updated():
        return await billing.pool.fetchval("SELECT next_premium_cents FROM lines WHERE enrollment_id = $1",
                                           enrollment_id) == 120_00
    from tests.billing.conftest import wait_for
    await wait_for(updated, what="premium change recorded")
    assert await billing.balance(ban) == 100_00  # the binder already billed stays
    await cycle(billing, date(2027, 1, 5))
    assert await billing.balance(ban) == 220_00
