"""Billing rules without I/O: numbers, due dates, allocation, grace, plans."""
from datetime import date

import pytest

from services.billing.domain.numbers import is_valid_ban, make_ban
from services.billing.domain.rules import (
    OpenInvoice,
    allocate,
    cycle_month,
    due_date_for,
    grace_for,
    month_of_grace,
    plan_schedule,
    termination_date,
)


def test_account_numbers_begin_with_7_and_catch_typos():
    ban = make_ban(12345)
    assert len(ban) == 10 and ban[0] == "7" and is_valid_ban(ban)
    typo = ban[:4] + str((int(ban[4]) + 1) % 10) + ban[5:]
    swapped = ban[:5] + ban[6] + ban[5] + ban[7:]
    assert not is_valid_ban(typo)
    assert ban[5] == ban[6] or not is_valid_ban(swapped)
    assert not is_valid_ban("6" + ban[1:]) and not is_valid_ban(ban[:9])


def test_month_m_is_billed_in_m_minus_1_and_due_the_23rd():
    assert due_date_for(date(2027, 1, 1)) == date(2026, 12, 23)
    assert due_date_for(date(2027, 3, 15)) == date(2027, 2, 23)
    assert cycle_month(date(2026, 11, 23)) == date(2026, 12, 1)
    assert cycle_month(date(2026, 12, 5)) == date(2027, 1, 1)


def inv(i, year, month, owed):
    return OpenInvoice(i, year, date(year, month, 1) if month else None, owed)


def test_payments_go_to_the_oldest_unpaid_month_first_and_the_rest_is_credit():
    open_ = [inv("mar", 2027, 3, 300_00), inv("jan", 2027, 1, 300_00), inv("feb", 2027, 2, 150_00)]
    apps, credit = allocate(500_00, open_)
    assert [(a.invoice_id, a.amount_cents) for a in apps] == [("jan", 300_00), ("feb", 150_00),
                                                              ("mar", 50_00)]
    assert credit == 0
    apps, credit = allocate(1000_00, open_)
    assert credit == 250_00 and sum(a.amount_cents for a in apps) == 750_00


def test_directed_amounts_pay_their_coverage_year_first():
    open_ = [inv("dec26", 2026, 12, 100_00), inv("jan27", 2027, 1, 120_00)]
    apps, credit = allocate(120_00, open_, {2027: 120_00})
    assert [(a.invoice_id, a.amount_cents) for a in apps] == [("jan27", 120_00)]
    apps, credit = allocate(150_00, open_, {2027: 150_00})  # more than 2027 owes: the rest flows on
    assert dict((a.invoice_id, a.amount_cents) for a in apps) == {"jan27": 120_00, "dec26": 30_00}
    assert credit == 0


def test_allocation_refuses_nonsense():
    with pytest.raises(AssertionError):
        allocate(0, [])


def test_grace_periods_and_retroactive_termination():
    aptc = grace_for(date(2027, 3, 1), aptc=True)
    assert (aptc.start, aptc.end, aptc.months) == (date(2027, 3, 1), date(2027, 5, 31), 3)
    assert termination_date(aptc, aptc=True) == date(2027, 3, 31)
    other = grace_for(date(2027, 3, 1), aptc=False)
    assert other.end == date(2027, 3, 31)
    assert termination_date(other, aptc=False) == date(2027, 2, 28)
    assert month_of_grace(aptc, date(2027, 4, 2)) == 2


def test_payment_plans_split_to_the_cent():
    s = plan_schedule(100_01, 3, date(2027, 5, 1))
    assert [x["amount_cents"] for x in s] == [33_35, 33_33, 33_33]
    assert [x["due_date"] for x in s] == ["2027-05-23", "2027-06-23", "2027-07-23"]


def test_plan_progress_marks_installments_and_breaks_on_a_missed_one():
    from services.billing.domain.rules import plan_progress
    s = plan_schedule(300_00, 3, date(2027, 2, 1))  # due Feb 23, Mar 23, Apr 23
    p = plan_progress(s, 0, date(2027, 2, 10))
    assert p.status == "current" and [i["status"] for i in p.installments] == ["due", "upcoming", "upcoming"]
    p = plan_progress(s, 100_00, date(2027, 3, 1))
    assert p.status == "current" and [i["status"] for i in p.installments] == ["paid", "due", "upcoming"]
    p = plan_progress(s, 99_99, date(2027, 2, 24))  # a cent short after the due date
    assert p.status == "broken" and p.installments[0]["status"] == "missed"
    assert plan_progress(s, 300_00, date(2027, 2, 24)).status == "completed"
    assert plan_progress(s, -50_00, date(2027, 2, 1)).paid_cents == 0  # a return nets below zero
