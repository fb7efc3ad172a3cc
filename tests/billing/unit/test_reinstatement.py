"""Reinstatement after a termination for non-payment (956 CMR 12.12), without I/O."""
from datetime import date

from services.billing.domain.reinstatement import quote, reinstate_by, reinstates, skipped_months


def test_the_last_day_is_the_35th_after_the_notice_even_on_a_weekend():
    assert reinstate_by(date(2027, 3, 1)) == date(2027, 4, 5)
    # 2027-05-01 + 35 days is Saturday 2027-06-05: it stays (payments are taken every day).
    assert reinstate_by(date(2027, 5, 1)) == date(2027, 6, 5)
    assert date(2027, 6, 5).weekday() == 5


def test_paying_everything_by_the_last_day_reinstates_and_not_a_day_later():
    noticed = date(2027, 3, 1)
    assert reinstates(date(2027, 4, 5), noticed, 0)
    assert reinstates(date(2027, 3, 1), noticed, -5_00)  # an overpayment, kept as credit
    assert not reinstates(date(2027, 4, 6), noticed, 0)
    assert not reinstates(date(2027, 4, 5), noticed, 1)  # a cent still owed


def test_skipped_months_are_those_never_billed_up_to_the_month_the_cycle_bills():
    billed = {date(2027, 1, 1), date(2027, 2, 1), date(2027, 3, 1)}
    assert skipped_months(date(2027, 1, 1), 2027, billed, date(2027, 3, 10)) == [date(2027, 4, 1)]
    assert skipped_months(date(2027, 1, 1), 2027, billed, date(2027, 2, 10)) == []
    # Never past the coverage year.
    assert skipped_months(date(2027, 1, 1), 2027, billed, date(2027, 12, 10))[-1] == date(2027, 12, 1)


def test_the_quote_is_the_balance_with_what_it_restores_and_what_is_billed_after():
    lines = [{"coverage_year": 2027, "enrollment_id": "E1", "coverage_start": date(2027, 1, 1),
              "premium_cents": 312_47}]
    billed = {(2027, date(2027, m, 1)) for m in (1, 2, 3)}
    q = quote(noticed_on=date(2027, 3, 1), terminated_on=date(2027, 1, 31), total_cents=624_94,
              plan_type="health", lines=lines, billed=billed, today=date(2027, 3, 10))
    assert q.as_dict() == {
        "possible": True, "amount_cents": 624_94, "pay_by": "2027-04-05",
        "noticed_on": "2027-03-01", "terminated_on": "2027-01-31", "plan_type": "health",
        "then_billed_cents": 312_47,
        "restores": [{"coverage_year": 2027, "enrollment_id": "E1", "coverage_start": "2027-01-01",
                      "restored_from": "2027-02-01", "then_billed_months": ["2027-04"],
                      "then_billed_cents": 312_47}]}
    late = quote(noticed_on=date(2027, 3, 1), terminated_on=date(2027, 1, 31), total_cents=624_94,
                 plan_type="health", lines=lines, billed=billed, today=date(2027, 4, 6))
    assert late.possible is False and late.pay_by == date(2027, 4, 5)
    nothing = quote(noticed_on=date(2027, 3, 1), terminated_on=date(2027, 1, 31), total_cents=0,
                    plan_type="health", lines=[], billed=billed, today=date(2027, 3, 10))
    assert nothing.possible is False  # no line left to restore
