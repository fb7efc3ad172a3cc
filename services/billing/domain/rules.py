"""Billing rules with no I/O: due dates, invoice months, allocation, grace periods.

- The premium for coverage month M is billed in month M-1 and due on the 23rd of M-1; the
  binder (first) invoice is due the 23rd of the month before coverage starts.
- Payments apply to the oldest unpaid month first (a member may direct amounts to coverage
  years first); what is left is kept as credit.
- Delinquency (45 CFR 156.270 and 155.430): members with advance premium tax credits get a
  3-month grace period, others 1 month, starting with the first unpaid coverage month. At
  the end of an unpaid grace period coverage terminates: for APTC members retroactively to
  the last day of the first grace month (the insurer pays claims for that month only), for
  others to the last day of the last month paid for (the day before grace began).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from shared.errors import DomainError

DUE_DAY = 23


class BillingError(DomainError):
    """An expected refusal of a billing operation (a hardship payment plan refused);
    `reason` names it for callers."""

    code = "payment_plan_refused"

    def __init__(self, message: str, reason: str = "refused") -> None:
        super().__init__(message, reason=reason)
        self.reason = reason


def first_of_month(day: date) -> date:
    return day.replace(day=1)


def add_months(month: date, n: int) -> date:
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def end_of_month(month: date) -> date:
    return add_months(first_of_month(month), 1) - timedelta(days=1)


def due_date_for(coverage_month: date) -> date:
    """Coverage month M is due the 23rd of M-1."""
    return add_months(first_of_month(coverage_month), -1).replace(day=DUE_DAY)


def cycle_month(business_date: date) -> date:
    """The coverage month billed by the cycle run on `business_date` (the next month)."""
    return add_months(first_of_month(business_date), 1)


def grace_months(aptc: bool) -> int:
    return 3 if aptc else 1


@dataclass(frozen=True)
class OpenInvoice:
    invoice_id: object
    coverage_year: int
    coverage_month: date
    owed_cents: int


@dataclass(frozen=True)
class Application:
    invoice_id: object
    coverage_year: int
    coverage_month: date
    amount_cents: int


def allocate(amount_cents: int, open_invoices: list[OpenInvoice],
             directed: dict[int, int] | None = None) -> tuple[list[Application], int]:
    """Split a payment over open invoices, oldest month first; amounts the member directed
    to a coverage year go to that year's months first. Returns the applications and the
    credit left over. The parts always add up to the payment."""
    assert amount_cents > 0, "a payment is positive"
    owed = {inv.invoice_id: inv.owed_cents for inv in open_invoices}
    ordered = sorted(open_invoices, key=lambda i: (i.coverage_month, i.coverage_year))
    applied: dict[object, int] = {}
    remaining = amount_cents

    def pay(candidates: list[OpenInvoice], budget: int) -> int:
        for inv in candidates:
            if budget == 0:
                break
            take = min(budget, owed[inv.invoice_id])
            if take > 0:
                owed[inv.invoice_id] -= take
                applied[inv.invoice_id] = applied.get(inv.invoice_id, 0) + take
                budget -= take
        return budget

    for year, cents in sorted((directed or {}).items()):
        budget = min(cents, remaining)
        left = pay([i for i in ordered if i.coverage_year == year], budget)
        remaining -= budget - left
    remaining = pay(ordered, remaining)
    by_id = {i.invoice_id: i for i in open_invoices}
    apps = [Application(k, by_id[k].coverage_year, by_id[k].coverage_month, v)
            for k, v in applied.items()]
    apps.sort(key=lambda a: (a.coverage_month, a.coverage_year))
    assert sum(a.amount_cents for a in apps) + remaining == amount_cents
    assert all(a.amount_cents > 0 for a in apps)
    return apps, remaining


@dataclass(frozen=True)
class Grace:
    start: date
    end: date
    months: int


def grace_for(first_unpaid_month: date, aptc: bool) -> Grace:
    months = grace_months(aptc)
    start = first_of_month(first_unpaid_month)
    return Grace(start, end_of_month(add_months(start, months - 1)), months)


def termination_date(grace: Grace, aptc: bool) -> date:
    """The retroactive last day of coverage when a grace period ends unpaid."""
    if aptc:
        return end_of_month(grace.start)
    return grace.start - timedelta(days=1)


def month_of_grace(grace: Grace, today: date) -> int:
    """1 for the first month of grace, 2 for the second, ..."""
    return (today.year - grace.start.year) * 12 + today.month - grace.start.month + 1


PLAN_MONTHS_MIN, PLAN_MONTHS_MAX = 2, 12


def plan_refusal(past_due_cents: int, has_active_plan: bool, coverage_ended: bool) -> str | None:
    """Why a hardship payment plan cannot be made now (None: it can). A plan spreads what is
    past due; it is for coverage still in force, one at a time."""
    if coverage_ended:
        return "coverage_ended"
    if has_active_plan:
        return "plan_exists"
    if past_due_cents <= 0:
        return "nothing_past_due"
    return None


def plan_first_due(today: date) -> date:
    """The first installment is due the next 23rd (this month's, if it has not passed)."""
    return add_months(first_of_month(today), 0 if today.day < DUE_DAY else 1).replace(day=DUE_DAY)


def plan_schedule(total_cents: int, months: int, first_due: date) -> list[dict[str, Any]]:
    """Equal installments (the first absorbs the odd cents), due the 23rd of each month."""
    assert total_cents > 0 and PLAN_MONTHS_MIN <= months <= PLAN_MONTHS_MAX
    base, extra = divmod(total_cents, months)
    schedule: list[dict[str, Any]] = []
    for i in range(months):
        schedule.append({"number": i + 1, "due_date": add_months(first_of_month(first_due), i)
                         .replace(day=DUE_DAY).isoformat(),
                         "amount_cents": base + (extra if i == 0 else 0)})
    assert sum(s["amount_cents"] for s in schedule) == total_cents
    return schedule


@dataclass(frozen=True)
class PlanProgress:
    """Where a hardship payment plan stands: `current` (every installment due so far is
    paid), `completed` (all paid) or `broken` (an installment went unpaid past its due
    date), with each installment marked paid, missed, due (the next one) or upcoming."""
    status: str
    paid_cents: int
    installments: list[dict[str, Any]]


def plan_progress(schedule: list[dict[str, Any]], paid_cents: int, today: date) -> PlanProgress:
    """Payments made since the plan began count against its installments in order.

    While a plan is current, delinquency is suspended for the account: no grace period
    starts, advances or ends in termination. Once it is broken, delinquency proceeds as
    if there had been no plan; once completed, the past-due balance it covered is paid.
    """
    assert isinstance(paid_cents, int), "money is integer cents"
    cumulative, out, missed, next_marked = 0, [], False, False
    for item in schedule:
        cumulative += item["amount_cents"]
        if paid_cents >= cumulative:
            state = "paid"
        elif date.fromisoformat(item["due_date"]) < today:
            state, missed = "missed", True
        elif not next_marked:
            state, next_marked = "due", True
        else:
            state = "upcoming"
        out.append({**item, "status": state})
    if paid_cents >= cumulative:
        status = "completed"
    else:
        status = "broken" if missed else "current"
    return PlanProgress(status, max(paid_cents, 0), out)
