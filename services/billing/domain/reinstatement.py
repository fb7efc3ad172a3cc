"""Reinstatement after a termination for non-payment (956 CMR 12.12), with no I/O.

- A member whose coverage was terminated for non-payment is reinstated by paying what is
  owed within 35 days. The days count from the termination notice: the business date on
  which billing recorded the termination and sent its notice (the day after the grace
  period ended), not from the termination's effective date, which is retroactive (for an
  APTC member, two months before the notice) and would leave little or no time to pay.
- The last day to pay is the 35th day after the notice and does not move when it falls on
  a weekend or holiday: payments are taken every day, online and by phone, and a payment
  counts on the business date it was submitted (not the later day the bank settles it).
- The amount that reinstates is the whole balance: a payment reinstates when, once
  applied, nothing is owed. The months the invoice cycle skipped while coverage was
  terminated are not in it: reinstating bills them at once, each due on its usual date or
  on the day of reinstatement when that has passed (see `skipped_months`).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from services.billing.domain.rules import add_months, cycle_month, first_of_month

REINSTATEMENT_DAYS = 35


def reinstate_by(noticed_on: date) -> date:
    """The last day a payment reinstates coverage terminated by the notice of `noticed_on`."""
    return noticed_on + timedelta(days=REINSTATEMENT_DAYS)


def reinstates(paid_on: date, noticed_on: date, owed_after_cents: int) -> bool:
    """A payment made on `paid_on` that leaves `owed_after_cents` reinstates coverage when it
    clears the balance and was made by the last day; a later one only pays down the balance."""
    assert isinstance(owed_after_cents, int), "money is integer cents"
    return owed_after_cents <= 0 and paid_on <= reinstate_by(noticed_on)


def skipped_months(coverage_start: date, coverage_year: int, billed: set[date],
                   today: date) -> list[date]:
    """The coverage months of a terminated line that reinstating on `today` would bill: every
    month of its coverage year from its start up to the month today's cycle bills that was
    never billed (the cycle skips a terminated line)."""
    month = max(first_of_month(coverage_start), date(coverage_year, 1, 1))
    out = []
    while month <= cycle_month(today) and month.year == coverage_year:
        if month not in billed:
            out.append(month)
        month = add_months(month, 1)
    return out


@dataclass(frozen=True)
class RestoredLine:
    """One coverage year's line the reinstatement restores, and what it bills afterwards."""
    coverage_year: int
    enrollment_id: str
    coverage_start: date
    restored_from: date           # the day after the termination's effective date
    then_billed: list[date]       # the skipped months billed once coverage is restored
    then_billed_cents: int


@dataclass(frozen=True)
class Quote:
    possible: bool
    amount_cents: int             # what reinstates: the whole balance, skipped months aside
    pay_by: date
    noticed_on: date
    terminated_on: date
    plan_type: str
    lines: list[RestoredLine]

    def as_dict(self) -> dict[str, Any]:
        return {
            "possible": self.possible, "amount_cents": self.amount_cents,
            "pay_by": self.pay_by.isoformat(), "noticed_on": self.noticed_on.isoformat(),
            "terminated_on": self.terminated_on.isoformat(), "plan_type": self.plan_type,
            "then_billed_cents": sum(ln.then_billed_cents for ln in self.lines),
            "restores": [{
                "coverage_year": ln.coverage_year, "enrollment_id": ln.enrollment_id,
                "coverage_start": ln.coverage_start.isoformat(),
                "restored_from": ln.restored_from.isoformat(),
                "then_billed_months": [m.strftime("%Y-%m") for m in ln.then_billed],
                "then_billed_cents": ln.then_billed_cents} for ln in self.lines]}


def quote(*, noticed_on: date, terminated_on: date, total_cents: int, plan_type: str,
          lines: list[dict[str, Any]], billed: set[tuple[int, date]], today: date) -> Quote:
    """What reinstates the account on `today`. `lines`: the lines the termination ended
    ({coverage_year, enrollment_id, coverage_start, premium_cents}); `billed`: the
    (coverage year, month) pairs already billed."""
    restored = []
    for ln in sorted(lines, key=lambda ln: ln["coverage_year"]):
        year = ln["coverage_year"]
        months = skipped_months(ln["coverage_start"], year,
                                {m for y, m in billed if y == year}, today)
        restored.append(RestoredLine(year, ln["enrollment_id"], ln["coverage_start"],
                                     terminated_on + timedelta(days=1), months,
                                     len(months) * ln["premium_cents"]))
    last_day = reinstate_by(noticed_on)
    return Quote(possible=today <= last_day and bool(restored), amount_cents=max(total_cents, 0),
                 pay_by=last_day, noticed_on=noticed_on, terminated_on=terminated_on,
                 plan_type=plan_type, lines=restored)
