"""Use cases driven by enrollment.v1 and payments.v1 events, and the events billing emits.

Every function runs inside the consumer's transaction (the event id is recorded in the same
transaction); events go out only through the outbox. Handlers that book on a business date
read it from the `clock` the service gives them (app.py binds it).
"""
from __future__ import annotations

import logging
from datetime import date

import asyncpg

from services.billing.adapters import repository as repo
from services.billing.domain.rules import (
    Application,
    OpenInvoice,
    add_months,
    allocate,
    cycle_month,
    due_date_for,
    first_of_month,
)
from services.billing.service_layer.reinstatement import payment_reinstates
from shared.calendar import Clock, business_today
from shared.contracts import billing as ev
from shared.contracts import payments as pay
from shared.contracts.enrollment import EnrollmentData, EnrollmentTerminatedData
from shared.contracts.envelope import Event
from shared.outbox import enqueue

log = logging.getLogger(__name__)


async def balance_changed(conn: asyncpg.Connection, ban: str, reason: str,
                          today: date) -> ev.BalanceChangedData:
    acct = await repo.account(conn, ban)
    snap = (await repo.snapshots(conn, [ban], today)).get(ban, {"lines": []})
    return balance_event(ban, acct["plan_type"], snap, await repo.credit_cents(conn, ban), reason)


def balance_event(ban: str, plan_type: str, snapshot: dict, credit_cents: int,
                  reason: str) -> ev.BalanceChangedData:
    """`balance.changed` from the account's snapshot (`repository.snapshots`) and the credit
    it holds: the lines' balances less the credit."""
    lines = [{k: ln[k] for k in ("coverage_year", "balance_cents", "current_premium_cents",
                                 "due_date", "binder")} for ln in snapshot["lines"]]
    total = sum(ln["balance_cents"] for ln in lines) - credit_cents
    return ev.BalanceChangedData(billing_account_number=ban, plan_type=plan_type,
                                 total_balance_cents=total, lines=lines, reason=reason)


async def total_balance(conn: asyncpg.Connection, ban: str) -> int:
    return await repo.total_balance(conn, ban)


# ------------------------------------------------------------------ enrollments

async def on_enrollment(conn: asyncpg.Connection, event: Event[EnrollmentData], *,
                        clock: Clock) -> None:
    """enrollment.created / .updated: open the account and line, bill the binder, or take a
    premium change from the next cycle. (The subscriber's SSN is never read here.)"""
    d = event.data
    today = business_today(clock())
    existing = await repo.line_by_enrollment(conn, d.enrollment_id)
    if existing is not None:
        await _update_line(conn, existing, d)
        return
    acct = await repo.account_by_household(conn, d.household_id, d.plan_type)
    new_account = acct is None
    ban = (await repo.open_account(conn, d.household_id, d.plan_type, d.aptc)
           if new_account else acct["billing_account_number"])
    if not new_account and d.aptc != acct["aptc"]:
        await repo.set_aptc(conn, ban, d.aptc)
    if await repo.line(conn, ban, d.coverage_year) is not None:
        log.warning("a second enrollment for one coverage year; kept the first",
                    extra={"billing_account_number": ban, "coverage_year": d.coverage_year})
        return
    # A renewal continues coverage already in force, and an enrollment whose coverage began
    # before this month arrives already effectuated (taken over from the exchange's records):
    # no binder for either, the line is active at once.
    start_month = first_of_month(d.coverage_start)
    in_force = start_month <= first_of_month(today)
    renewal = any(ln["status"] == "active" for ln in await repo.lines(conn, ban))
    await repo.insert_line(conn, ban, d, "active" if renewal or in_force else "pending_binder")
    all_lines = await repo.lines(conn, ban)
    events: list[ev.BillingPayload] = [ev.AccountOpenedData(
        billing_account_number=ban, household_id=d.household_id, plan_type=d.plan_type,
        enrollment_ids=[ln["enrollment_id"] for ln in all_lines],
        coverage_years=[ln["coverage_year"] for ln in all_lines], aptc=d.aptc)]
    invoices = []
    if not in_force:  # the first bill: the binder, or a renewal's first month
        invoices.append(await repo.insert_invoice(
            conn, ban, d.coverage_year, start_month, "monthly" if renewal else "binder",
            d.premium_cents, due_date_for(start_month), today))
    # The month the current cycle bills, in case today's cycle ran before this enrollment.
    billed_now = cycle_month(today)
    if start_month <= billed_now and billed_now.year == d.coverage_year:
        invoices.append(await repo.insert_invoice(conn, ban, d.coverage_year, billed_now,
                                                  "monthly", d.premium_cents,
                                                  due_date_for(billed_now), today))
    invoices = [inv for inv in invoices if inv is not None]
    if invoices:
        events += await after_invoices(conn, ban, invoices, today)
    await enqueue(conn, *events, key=ban, cause=event)


async def _update_line(conn: asyncpg.Connection, line: asyncpg.Record, d: EnrollmentData) -> None:
    await repo.update_line_plan(conn, line["billing_account_number"], line["coverage_year"],
                                d.plan_name, d.carrier, d.premium_cents)
    await repo.set_aptc(conn, line["billing_account_number"], d.aptc)


async def on_enrollment_terminated(conn: asyncpg.Connection,
                                   event: Event[EnrollmentTerminatedData]) -> None:
    d = event.data
    line = await repo.line_by_enrollment(conn, d.enrollment_id)
    if line is None or line["status"] in ("terminated", "cancelled"):
        return
    ban = line["billing_account_number"]
    await repo.set_line_status(conn, ban, line["coverage_year"], "terminated", d.effective_date)
    await enqueue(conn, ev.CoverageTerminatedData(
        billing_account_number=ban, enrollment_ids=[d.enrollment_id],
        coverage_year=line["coverage_year"], effective_date=d.effective_date.isoformat(),
        reason="enrollment_terminated"), key=ban, cause=event)


async def after_invoices(conn: asyncpg.Connection, ban: str, invoices: list,
                         today: date) -> list[ev.BillingPayload]:
    """Use any credit on the new invoices, then announce them and the new balance."""
    credit = await repo.credit_cents(conn, ban)
    if credit > 0:
        apps, left = allocate(credit, await repo.open_invoices(conn, ban))
        used = credit - left
        if used:
            await repo.add_entry(conn, ban, "credit_applied", used, today)
            await repo.record_applications(conn, ban, None, apps, today, kind="credit_applied")
    total = await total_balance(conn, ban)
    events: list[ev.BillingPayload] = [ev.InvoiceIssuedData(
        billing_account_number=ban, invoice_id=str(inv["invoice_id"]), kind=inv["kind"],
        coverage_year=inv["coverage_year"], coverage_month=inv["coverage_month"].strftime("%Y-%m"),
        amount_cents=inv["amount_cents"], due_date=inv["due_date"].isoformat(),
        total_balance_cents=total) for inv in invoices]
    events.append(await balance_changed(conn, ban, "invoice_issued", today))
    return events


# ------------------------------------------------------------------ payments

def amount_of(d: pay.PaymentSubmittedData | pay.PaymentSettledData | pay.PaymentFailedData
              | pay.PaymentReturnedData) -> int:
    amount = d.amount_cents
    assert amount > 0, "a payment amount is positive integer cents"
    return amount


async def on_payment_submitted(conn: asyncpg.Connection, event: Event[pay.PaymentSubmittedData], *,
                               clock: Clock | None = None) -> None:
    """Record a payment in flight, with the business date it was made (a reinstatement
    counts that day, not the later settlement)."""
    d = event.data
    flags: dict = {"submitted": True}
    if clock is not None:
        flags["submitted_on"] = business_today(clock())
    await repo.upsert_payment(conn, d.payment_id, d.billing_account_number, amount_of(d),
                              [a.to_data() for a in d.allocations], **flags)


async def on_payment_failed(conn: asyncpg.Connection, event: Event[pay.PaymentFailedData]) -> None:
    d = event.data
    await repo.upsert_payment(conn, d.payment_id, d.billing_account_number, amount_of(d),
                              [], failed=True)


async def on_payment_settled(conn: asyncpg.Connection, event: Event[pay.PaymentSettledData], *,
                             clock: Clock) -> None:
    """Credit the payment: oldest unpaid month first (directed years first), the rest as
    credit. Safe in any order: a payment already returned is never credited."""
    d = event.data
    ban = d.billing_account_number
    if await repo.account(conn, ban, lock=True) is None:
        raise LookupError(f"payment {d.payment_id} for unknown billing account {ban}")
    before = await repo.payment(conn, d.payment_id)
    if before is not None and (before["settled"] or before["returned"]):
        await repo.upsert_payment(conn, d.payment_id, ban, amount_of(d), [], settled=True)
        return
    await repo.upsert_payment(conn, d.payment_id, ban, amount_of(d),
                              [a.to_data() for a in d.allocations], settled=True, credited=True,
                              settled_on=date.fromisoformat(d.settled_on))
    today = business_today(clock())
    apps, credit = allocate_payment(d, await repo.open_invoices(conn, ban))
    await repo.record_applications(conn, ban, d.payment_id, apps, today)
    if credit:
        await repo.add_entry(conn, ban, "credit", -credit, today, d.payment_id)
    events: list[ev.BillingPayload] = [
        payment_applied(d, apps, credit, await total_balance(conn, ban))]
    events += await effectuate_paid_binders(conn, ban)
    paid_on = before["submitted_on"] if before is not None and before["submitted_on"] else today
    events += await resolve_delinquency(conn, ban, today, paid_on=paid_on)
    events.append(await balance_changed(conn, ban, "payment_applied", today))
    await enqueue(conn, *events, key=ban, cause=event)


def allocate_payment(d: pay.PaymentSettledData,
                     open_invoices: list[OpenInvoice]) -> tuple[list[Application], int]:
    """The settled payment over the account's open invoices (the years it directs money to
    first): the applications and the credit left over."""
    directed = {a.coverage_year: a.amount_cents for a in d.allocations}
    return allocate(amount_of(d), open_invoices, directed)


def payment_applied(d: pay.PaymentSettledData, apps: list[Application], credit_cents: int,
                    total_cents: int) -> ev.PaymentAppliedData:
    """`payment.applied`: where the payment went and the account's balance after it."""
    return ev.PaymentAppliedData(
        billing_account_number=d.billing_account_number, payment_id=d.payment_id,
        amount_cents=amount_of(d),
        allocations=[ev.AppliedAllocation(coverage_year=a.coverage_year,
                                          coverage_month=a.coverage_month.strftime("%Y-%m"),
                                          amount_cents=a.amount_cents) for a in apps],
        credit_cents=credit_cents, total_balance_cents=total_cents)


async def on_payment_returned(conn: asyncpg.Connection, event: Event[pay.PaymentReturnedData], *,
                              clock: Clock) -> None:
    """Reverse a returned payment's credit (once); a return that arrives before the
    settlement just marks the payment so the settlement is never credited."""
    d = event.data
    ban = d.billing_account_number
    await repo.account(conn, ban, lock=True)
    before = await repo.payment(conn, d.payment_id)
    if before is not None and before["returned"]:
        return
    await repo.upsert_payment(conn, d.payment_id, ban, amount_of(d), [], returned=True,
                              return_code=d.return_code)
    if before is None or not before["credited"]:
        return
    today = business_today(clock())
    amount = await repo.reverse_payment(conn, ban, d.payment_id, today)
    await enqueue(conn, ev.PaymentReversedData(
        billing_account_number=ban, payment_id=d.payment_id, amount_cents=amount,
        return_code=d.return_code, total_balance_cents=await total_balance(conn, ban)),
        await balance_changed(conn, ban, "payment_reversed", today), key=ban, cause=event)


async def effectuate_paid_binders(conn: asyncpg.Connection, ban: str) -> list[ev.BillingPayload]:
    """A binder paid in full completes the enrollment: `coverage.effectuated`, once."""
    return binders_effectuated(ban, await repo.activate_binder_lines(conn, [ban]))


def binders_effectuated(ban: str, rows: list[asyncpg.Record]) -> list[ev.BillingPayload]:
    """`coverage.effectuated` for each line `activate_binder_lines` activated."""
    return [ev.CoverageEffectuatedData(
        billing_account_number=ban, enrollment_id=r["enrollment_id"],
        coverage_year=r["coverage_year"], coverage_start=r["coverage_start"].isoformat())
        for r in rows]


async def resolve_delinquency(conn: asyncpg.Connection, ban: str, today: date,
                              paid_on: date | None = None) -> list[ev.BillingPayload]:
    """Paying everything past due ends a grace period; paying the whole balance after a
    termination for non-payment, by the 35th day after the termination notice (the payment
    made on `paid_on`, today unless given), reinstates the coverage that was ended (the
    months billed after the termination date are part of what must be paid). A later
    payment only pays down the balance."""
    row = await repo.delinquency(conn, ban)
    if row is None or row["status"] not in ("in_grace", "terminated"):
        return []
    if row["status"] == "in_grace":
        cents, _ = await repo.past_due(conn, ban, today)
        if cents > 0:
            return []
        await repo.resolve_delinquency_row(conn, ban, today)
        return []
    if not await payment_reinstates(conn, ban, row, paid_on or today, await total_balance(conn, ban)):
        return []
    lines = await repo.reinstate_lines(conn, ban, row["terminated_on"])
    await repo.reinstate_delinquency_row(conn, ban, today)
    events: list[ev.BillingPayload] = [ev.CoverageEffectuatedData(
        billing_account_number=ban, enrollment_id=r["enrollment_id"],
        coverage_year=r["coverage_year"], coverage_start=r["coverage_start"].isoformat(),
        reinstated=True) for r in lines]
    invoices = await _bill_skipped_months(conn, ban, lines, today)
    if invoices:
        events += await after_invoices(conn, ban, invoices, today)
    return events


async def _bill_skipped_months(conn: asyncpg.Connection, ban: str, lines: list, today: date) -> list:
    """Coverage restored is coverage billed: the months the cycle skipped while the line was
    terminated, up to the month today's cycle bills. A catch-up invoice is due on its usual
    date, or today when that has passed (the member cannot have paid it earlier)."""
    invoices = []
    last = cycle_month(today)
    for ln in lines:
        month = max(first_of_month(ln["coverage_start"]), date(ln["coverage_year"], 1, 1))
        while month <= last and month.year == ln["coverage_year"]:
            inv = await repo.insert_invoice(conn, ban, ln["coverage_year"], month, "monthly",
                                            ln["premium_cents"], max(due_date_for(month), today),
                                            today)
            if inv is not None:
                invoices.append(inv)
            month = add_months(month, 1)
    return invoices
