"""Regulation E's pure rules for the autopay draft (services/payments/domain/regulation_e.py):
the notice date 10 calendar days before a draft on a weekend, a holiday or across a month
and year end; the cancellation cut-off 3 banking days before; which draft a notice run or a
cancellation concerns; when a notice is owed and the most a draft may take."""
from __future__ import annotations

from datetime import date

import pytest

from services.payments.domain import regulation_e as rege
from services.payments.domain.schedule import draft_date


@pytest.mark.parametrize("year,month,day,draft,notice,cut_off", [
    # A Tuesday: 10 calendar days back is a Saturday; the cut-off skips the weekend.
    (2026, 12, 22, date(2026, 12, 22), date(2026, 12, 12), date(2026, 12, 17)),
    # March 22, 2026 is a Sunday: the draft is Monday the 23rd, and both dates follow it.
    (2026, 3, 22, date(2026, 3, 23), date(2026, 3, 13), date(2026, 3, 18)),
    # November 22, 2029 is Thanksgiving: the draft is the 23rd; the cut-off skips the holiday.
    (2029, 11, 22, date(2029, 11, 23), date(2029, 11, 13), date(2029, 11, 19)),
    # A draft day early in the month: the notice and the cut-off fall in February.
    (2026, 3, 2, date(2026, 3, 2), date(2026, 2, 20), date(2026, 2, 25)),
    # New Year's Day: the draft is January 2; the notice and cut-off are in the old year.
    (2026, 1, 1, date(2026, 1, 2), date(2025, 12, 23), date(2025, 12, 29)),
])
def test_notice_date_and_cut_off_of_a_draft(year, month, day, draft, notice, cut_off):
    assert draft_date(year, month, day) == draft
    assert rege.notice_date(draft) == notice
    assert rege.cancel_by(draft) == cut_off
    assert (draft - rege.notice_date(draft)).days == 10


def test_banking_days_before_counts_only_banking_days():
    assert rege.banking_days_before(date(2026, 12, 28), 1) == date(2026, 12, 24)  # over Christmas
    assert rege.banking_days_before(date(2026, 12, 22), 3) == date(2026, 12, 17)
    with pytest.raises(AssertionError):
        rege.banking_days_before(date(2026, 12, 22), 0)


@pytest.mark.parametrize("today,expected", [
    (date(2026, 12, 11), None),                 # the day before the window opens
    (date(2026, 12, 12), date(2026, 12, 22)),   # the notice date itself
    (date(2026, 12, 21), date(2026, 12, 22)),   # late runs still cover the cycle
    (date(2026, 12, 22), None),                 # the draft day: January's window is not open
    (date(2027, 1, 12), date(2027, 1, 22)),
    (date(2026, 3, 13), date(2026, 3, 23)),     # a weekend 22nd: counted from the 23rd
    (date(2026, 3, 12), None),
])
def test_the_draft_a_notice_run_covers(today, expected):
    assert rege.draft_to_notice(today) == expected


def test_a_set_up_from_the_notice_date_on_states_its_first_draft():
    assert rege.set_up_inside_notice_window(date(2026, 12, 11)) is None
    assert rege.set_up_inside_notice_window(date(2026, 12, 12)) == date(2026, 12, 22)
    assert rege.set_up_inside_notice_window(date(2026, 12, 21)) == date(2026, 12, 22)
    assert rege.set_up_inside_notice_window(date(2026, 12, 22)) is None  # first draft: January


@pytest.mark.parametrize("today,cancel_by,stops,still", [
    (date(2026, 12, 2), date(2026, 12, 17), date(2026, 12, 22), None),
    (date(2026, 12, 17), date(2026, 12, 17), date(2026, 12, 22), None),          # the cut-off day
    (date(2026, 12, 18), date(2027, 1, 19), date(2027, 1, 22), date(2026, 12, 22)),
    (date(2026, 12, 22), date(2027, 1, 19), date(2027, 1, 22), date(2026, 12, 22)),  # draft day
    (date(2026, 12, 23), date(2027, 1, 19), date(2027, 1, 22), None),
    (date(2026, 3, 21), date(2026, 4, 17), date(2026, 4, 22), date(2026, 3, 23)),    # weekend
])
def test_what_a_cancellation_today_stops(today, cancel_by, stops, still):
    assert rege.cancel_window(today) == rege.CancelWindow(cancel_by, stops, still)


def test_when_a_notice_is_owed_and_the_ceiling_it_sets():
    d = rege.decide_notice
    assert d(31000, None) == rege.NoticeDecision(True, "first", 31000)
    assert d(31000, 31000) == rege.NoticeDecision(False, "unchanged", 31000)
    assert d(45000, 31000) == rege.NoticeDecision(True, "changed", 45000)
    assert d(20000, 31000) == rege.NoticeDecision(True, "changed", 20000)
    assert d(0, 31000) == rege.NoticeDecision(False, "nothing_owed", 0)
    band = rege.NoticeRange(20000, 40000)
    assert d(31000, None, band) == rege.NoticeDecision(False, "within_range", 40000)
    assert d(40000, 31000, band) == rege.NoticeDecision(False, "within_range", 40000)
    assert d(40001, 31000, band) == rege.NoticeDecision(True, "outside_range", 40001)
    assert d(19999, 31000, band) == rege.NoticeDecision(True, "outside_range", 19999)
    with pytest.raises(AssertionError):
        d(-1, None)
    with pytest.raises(AssertionError):
        rege.NoticeRange(500, 100)


def test_a_draft_never_takes_more_than_its_ceiling_nor_more_than_is_owed():
    assert rege.draft_amount(50000, 45000) == 45000   # the balance grew after the notice
    assert rege.draft_amount(30000, 45000) == 30000   # it shrank: only what is owed
    assert rege.draft_amount(-500, 45000) == 0
    assert rege.draft_amount(50000, None) == 50000    # a cycle the notice job never saw
