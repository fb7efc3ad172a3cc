"""The account's standing and its coverage clock, with no I/O: what the member is told about
where the account stands and how long coverage lasts without another payment.

- The status is one of: `terminated` (every line ended or never started), `pending_binder`
  (the first payment is owed: pay it by its due date, the 23rd of the month before coverage
  starts, or the coverage never starts), `payment_plan` (past due, but a hardship plan that
  is being kept suspends delinquency), `in_grace` (a grace period is running), `past_due`
  (a due date has passed and no grace period is recorded yet), `no_bill_yet` (nothing has
  been billed), `due` (something is owed, nothing late) or `paid`.
- Paid through: the last day of the last coverage month paid, every month before it paid too.
- The grace period is 3 months with advance premium tax credits, 1 month without; it starts
  with the first unpaid coverage month (rules.grace_for). The latest day to pay to keep
  coverage is the end of that grace period (of the one running, when one is), or the next
  installment's due date while a hardship plan suspends delinquency, or the binder's due
  date before coverage has started. If it passes unpaid, coverage ends on
  rules.termination_date (retroactively).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from services.billing.domain.rules import (
    Grace,
    add_months,
    due_date_for,
    end_of_month,
    grace_for,
    grace_months,
    termination_date,
)

ENDED = ("terminated", "cancelled")


@dataclass(frozen=True)
class BilledMonth:
    coverage_month: date
    due_date: date
    owed_cents: int  # what is still unpaid on the month's invoice
    kind: str        # binder or monthly


@dataclass(frozen=True)
class Standing:
    status: str
    paid_through: date | None
    grace_type: str
    grace_months: int
    pay_by: date | None            # pay by then and no grace period starts
    keep_coverage_by: date | None  # the latest day to pay and keep coverage
    ends_if_unpaid: date | None    # coverage's last day if that day passes unpaid
    starts_on: date | None         # coverage's first day, while the binder is owed
    amount_to_keep_cents: int      # what must be paid by keep_coverage_by

    def as_dict(self) -> dict[str, Any]:
        def iso(d: date | None) -> str | None:
            return d.isoformat() if d else None
        return {"status": self.status, "paid_through": iso(self.paid_through),
                "grace_type": self.grace_type, "grace_months": self.grace_months,
                "pay_by": iso(self.pay_by), "keep_coverage_by": iso(self.keep_coverage_by),
                "ends_if_unpaid": iso(self.ends_if_unpaid), "starts_on": iso(self.starts_on),
                "amount_to_keep_cents": self.amount_to_keep_cents}


def paid_through(months: list[BilledMonth]) -> date | None:
    last = None
    for m in sorted(months, key=lambda m: m.coverage_month):
        if m.owed_cents > 0:
            break
        last = m.coverage_month
    return end_of_month(last) if last else None


def standing(months: list[BilledMonth], lines: list[dict[str, Any]], aptc: bool, total_cents: int,
             today: date, grace: Grace | None = None, plan_due: date | None = None,
             plan_due_cents: int = 0) -> Standing:
    """`lines`: {coverage_year, status (active, pending_binder, terminated, cancelled),
    coverage_start}; `grace`: the grace period running, if one is; `plan_due`: the next
    installment's due date while a hardship plan suspends delinquency."""
    assert all(m.owed_cents >= 0 for m in months), "an invoice never owes less than nothing"
    kind = "aptc_3_months" if aptc else "standard_1_month"
    through = paid_through(months)
    unpaid = sorted((m for m in months if m.owed_cents > 0), key=lambda m: m.coverage_month)
    past_due = sum(m.owed_cents for m in unpaid if m.due_date < today)
    base: dict[str, Any] = dict(paid_through=through, grace_type=kind, grace_months=grace_months(aptc))
    if lines and all(ln["status"] in ENDED for ln in lines):
        return Standing("terminated", **base, pay_by=None, keep_coverage_by=None,
                        ends_if_unpaid=None, starts_on=None, amount_to_keep_cents=0)
    binder = next((m for m in unpaid if m.kind == "binder"), None)
    if binder is not None and any(ln["status"] == "pending_binder" for ln in lines):
        return Standing("pending_binder", **base, pay_by=binder.due_date,
                        keep_coverage_by=binder.due_date, ends_if_unpaid=None,
                        starts_on=binder.coverage_month, amount_to_keep_cents=binder.owed_cents)
    first_unpaid = unpaid[0].coverage_month if unpaid else (
        add_months(through.replace(day=1), 1) if through else None)
    in_force = first_unpaid is not None and any(
        ln["status"] == "active" and ln["coverage_year"] == first_unpaid.year for ln in lines)
    if not in_force:  # nothing billed yet, or paid to the end of the coverage in force
        return Standing("no_bill_yet" if not months else ("due" if total_cents > 0 else "paid"),
                        **base, pay_by=None, keep_coverage_by=None, ends_if_unpaid=None,
                        starts_on=None, amount_to_keep_cents=0)
    assert first_unpaid is not None  # coverage in force has a first unpaid month
    running = grace or grace_for(first_unpaid, aptc)
    pay_by = due_date_for(first_unpaid)
    if past_due and plan_due is not None:
        return Standing("payment_plan", **base, pay_by=plan_due, keep_coverage_by=plan_due,
                        ends_if_unpaid=termination_date(grace_for(first_unpaid, aptc), aptc),
                        starts_on=None, amount_to_keep_cents=plan_due_cents)
    if grace is not None:
        status = "in_grace"
    elif past_due:
        status = "past_due"
    else:
        status = "due" if total_cents > 0 else "paid"
    # A grace period ends when nothing is past due: everything due by its end is owed then.
    to_keep = sum(m.owed_cents for m in unpaid if m.due_date <= running.end)
    return Standing(status, **base, pay_by=pay_by if pay_by >= today else None,
                    keep_coverage_by=running.end,
                    ends_if_unpaid=termination_date(running, aptc), starts_on=None,
                    amount_to_keep_cents=to_keep)
