"""The account's standing and coverage clock (domain/coverage.py), date by date."""
from datetime import date

from services.billing.domain.coverage import BilledMonth, standing
from services.billing.domain.rules import Grace, plan_refusal

ACTIVE_2027 = [{"coverage_year": 2027, "status": "active", "coverage_start": date(2027, 1, 1)}]


def month(m: int, owed: int, kind: str = "monthly") -> BilledMonth:
    start = date(2027, m, 1)
    due = date(2027 if m > 1 else 2026, m - 1 if m > 1 else 12, 23)
    return BilledMonth(start, due, owed, kind)


def test_nothing_billed_is_no_bill_yet_not_paid():
    s = standing([], ACTIVE_2027, aptc=False, total_cents=0, today=date(2027, 1, 10))
    assert s.status == "no_bill_yet" and s.paid_through is None and s.keep_coverage_by is None


def test_binder_owed_says_pay_by_the_23rd_to_start_coverage():
    lines = [{**ACTIVE_2027[0], "status": "pending_binder"}]
    s = standing([month(1, 250_00, "binder")], lines, False, 250_00, date(2026, 12, 5))
    assert (s.status, s.pay_by, s.starts_on, s.amount_to_keep_cents) == \
        ("pending_binder", date(2026, 12, 23), date(2027, 1, 1), 250_00)


def test_paid_up_shows_paid_through_and_the_grace_of_the_next_month():
    months = [month(1, 0, "binder"), month(2, 0)]
    without = standing(months, ACTIVE_2027, False, 0, date(2027, 1, 25))
    assert without.status == "paid" and without.paid_through == date(2027, 2, 28)
    assert (without.grace_type, without.grace_months) == ("standard_1_month", 1)
    # March is the first month unpaid: due Feb 23; 1 month of grace ends March 31, and coverage
    # then ends the day before grace began.
    assert (without.pay_by, without.keep_coverage_by, without.ends_if_unpaid) == \
        (date(2027, 2, 23), date(2027, 3, 31), date(2027, 2, 28))
    with_aptc = standing(months, ACTIVE_2027, True, 0, date(2027, 1, 25))
    assert (with_aptc.grace_type, with_aptc.grace_months) == ("aptc_3_months", 3)
    # Three months of grace (March to May); an APTC member is covered through March.
    assert (with_aptc.keep_coverage_by, with_aptc.ends_if_unpaid) == (date(2027, 5, 31), date(2027, 3, 31))


def test_past_due_then_in_grace_with_its_end_and_what_follows():
    months = [month(1, 0, "binder"), month(2, 0), month(3, 300_00)]
    late = standing(months, ACTIVE_2027, False, 300_00, date(2027, 2, 24))
    assert late.status == "past_due" and late.pay_by is None
    grace = Grace(date(2027, 3, 1), date(2027, 3, 31), 1)
    s = standing(months, ACTIVE_2027, False, 300_00, date(2027, 2, 25), grace=grace)
    assert (s.status, s.keep_coverage_by, s.ends_if_unpaid, s.amount_to_keep_cents) == \
        ("in_grace", date(2027, 3, 31), date(2027, 2, 28), 300_00)
    assert s.paid_through == date(2027, 2, 28)


def test_a_kept_hardship_plan_moves_the_latest_day_to_the_next_installment():
    months = [month(1, 0, "binder"), month(2, 300_00)]
    s = standing(months, ACTIVE_2027, False, 300_00, date(2027, 1, 26),
                 plan_due=date(2027, 2, 23), plan_due_cents=100_00)
    assert (s.status, s.keep_coverage_by, s.amount_to_keep_cents) == \
        ("payment_plan", date(2027, 2, 23), 100_00)


def test_ended_coverage_is_terminated_with_no_day_to_pay():
    lines = [{**ACTIVE_2027[0], "status": "terminated"}]
    s = standing([month(1, 0, "binder"), month(2, 300_00)], lines, False, 300_00, date(2027, 4, 2))
    assert s.status == "terminated" and s.keep_coverage_by is None and s.paid_through == date(2027, 1, 31)


def test_a_plan_is_offered_only_for_past_due_coverage_in_force_one_at_a_time():
    assert plan_refusal(300_00, False, False) is None
    assert plan_refusal(0, False, False) == "nothing_past_due"
    assert plan_refusal(300_00, True, False) == "plan_exists"
    assert plan_refusal(300_00, False, True) == "coverage_ended"
