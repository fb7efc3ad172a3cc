"""The rules of deadline-aware binders (domain/same_day.py), as dates a member would read."""
from __future__ import annotations

from datetime import date, datetime, time

import pytest

from services.payments.domain import same_day
from services.payments.domain.nacha import Entry, NachaWriter, Origin
from shared.calendar import NEW_YORK

WINDOWS = same_day.parse_windows("10:00,14:15,16:15")
DUE = date(2026, 11, 23)  # a Monday


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=NEW_YORK)


def plan(now: datetime, standard: date, *, binder: bool = True, due: date | None = DUE,
         cents: int = 50_000) -> same_day.Plan | None:
    return same_day.plan(now, WINDOWS, 17, binder=binder, due_date=due, standard_date=standard,
                         amount_cents=cents)


def test_windows_are_matched_to_the_fed_windows_they_meet():
    assert [(w.number, w.descriptive_date, w.file_id_modifier) for w in WINDOWS] == \
        [(1, "SD1300", "B"), (2, "SD1700", "C"), (3, "SD1800", "D")]
    assert [w.number for w in same_day.parse_windows("14:45")] == [2]  # the deadline itself
    assert same_day.parse_windows("") == ()
    for bad in ("16:46", "9:00", "10:00,10:00", "14:00,10:00", "10:00,10:15", "١٠:٠٠", "10-00"):
        with pytest.raises(ValueError):
            same_day.parse_windows(bad)


def test_a_binder_in_time_anyway_keeps_its_date():
    assert plan(at(date(2026, 11, 18), 10), date(2026, 11, 20)) is None
    assert plan(at(date(2026, 11, 19), 10), DUE) is None  # due that very day: in time


def test_the_next_file_when_it_settles_by_the_due_date():
    # Friday the 20th after the cutoff: Monday's file would settle Tuesday; but Friday 10:00
    # (before the cutoff) the day's file settles Monday the 23rd.
    p = plan(at(date(2026, 11, 20), 10), date(2026, 11, 24))
    assert p == same_day.Plan(date(2026, 11, 20), DUE, None)


def test_same_day_when_the_next_file_is_too_late():
    # Friday after the cutoff: the next file is Monday's (settles Tuesday): Monday's first window.
    p = plan(at(date(2026, 11, 20), 18), date(2026, 11, 25))
    assert p is not None and p.slot is not None
    assert (p.sent_on, p.withdrawal, p.slot.window.number) == (DUE, DUE, 1)
    # On the due date itself, the window still open; a weekend waits for Monday's first.
    assert plan(at(DUE, 10, 0), date(2026, 11, 25)).slot.window.number == 2  # 10:00 is window 1's send time: past
    assert plan(at(DUE, 16, 14), date(2026, 11, 25)).slot.window.number == 3
    assert plan(at(date(2026, 11, 21), 12), date(2026, 11, 25)).slot.day == DUE


def test_no_promise_that_cannot_be_kept():
    assert plan(at(DUE, 16, 15), date(2026, 11, 25)) is None  # every window of the day is past
    assert plan(at(date(2026, 11, 24), 9), date(2026, 11, 27)) is None  # already late
    assert plan(at(DUE, 9), date(2026, 11, 25), binder=False) is None  # a monthly premium
    assert plan(at(DUE, 9), date(2026, 11, 25), due=None) is None
    # Over the per-entry limit of $1,000,000: no same-day entry (the next file still may).
    assert plan(at(DUE, 9), date(2026, 11, 25), cents=same_day.ENTRY_LIMIT_CENTS + 1) is None
    assert plan(at(DUE, 9), date(2026, 11, 25), cents=same_day.ENTRY_LIMIT_CENTS).slot is not None
    assert same_day.plan(at(DUE, 9), (), 17, binder=True, due_date=DUE,
                         standard_date=date(2026, 11, 25), amount_cents=1) is None  # no windows


def test_the_day_before_a_holiday_and_the_next_slot():
    # Thanksgiving 2026 is Thursday the 26th: Wednesday 17:00 the next slot is Friday's first.
    slot = same_day.next_slot(at(date(2026, 11, 25), 17), WINDOWS)
    assert (slot.day, slot.window.send_at) == (date(2026, 11, 27), time(10, 0))
    assert same_day.next_cutoff_day(at(date(2026, 11, 25), 17), 17) == date(2026, 11, 27)


def test_a_same_day_batch_carries_its_window_and_is_effective_that_day():
    out: list[str] = []
    w = NachaWriter(Origin("011000015", "SANDBOX BANK", "HEALTH CONNECTOR", "1046001234"),
                    at(DUE, 10), "B", out.append, descriptive_date="SD1300")
    w.add(DUE, Entry("checking", "091000019", "12345678", 41_250, "1234567890", "ANA", 1, False))
    w.finish()
    header, batch = out[0], out[1]
    assert header[33] == "B"
    assert (batch[63:69], batch[69:75]) == ("SD1300", "261123")
