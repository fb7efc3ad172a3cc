"""Members behind on their premiums, for tests against the whole running stack: billing's
own jobs, run for business dates as an operator would (`python -m services.billing.cli`),
put the account where a test needs it."""
from __future__ import annotations

from datetime import date, timedelta

from services.billing.domain.rules import add_months, end_of_month, first_of_month
from shared.calendar import business_today


async def seed_past_due_member(stack, *, aptc: bool, in_grace: bool = True, **kw) -> dict:
    """A member whose coverage has been in force since January and whose premium for this
    month (billed by last month's cycle, due last month's 23rd) is unpaid; with `in_grace`,
    the delinquency job has started the grace period. Adds the dates a member is shown."""
    today = business_today()
    member = await stack.seed_member(shopped_hours_ago=5, aptc=aptc,
                                     coverage_start=date(today.year, 1, 1), **kw)
    last_month = add_months(first_of_month(today), -1)
    stack.run_cli("billing", "invoice-cycle", "--date", last_month.replace(day=5).isoformat())
    if in_grace:
        stack.run_cli("billing", "delinquency", "--date", today.isoformat())
    this_month = first_of_month(today)
    months = 3 if aptc else 1
    member["grace_end"] = end_of_month(add_months(this_month, months - 1))
    # APTC: covered through the first grace month; otherwise through the day before grace.
    member["ends_if_unpaid"] = end_of_month(this_month) if aptc else this_month - timedelta(days=1)
    return member
