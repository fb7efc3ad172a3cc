"""Business time: America/New_York, banking days without weekends and Federal Reserve
holidays (from the `holidays` library's Federal Reserve calendar), and the one clock every
member-facing date is read from.

A service that needs the time is given a `Clock` (tests give a fixed one); `business_now`
is the real one, and `business_today` turns any aware moment into the New York date."""
from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

NEW_YORK = ZoneInfo("America/New_York")

# The current moment, timezone-aware; injected where a use case needs the time.
Clock = Callable[[], datetime]


@lru_cache(maxsize=64)
def _fed_holidays(year: int) -> frozenset[date]:
    # holidays' calendar classes carry no annotations.
    return frozenset(holidays.FederalReserve(years=year).keys())  # type: ignore[no-untyped-call]


def is_banking_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _fed_holidays(day.year)


def next_banking_day(day: date) -> date:
    """`day` itself if it is a banking day, otherwise the next one."""
    while not is_banking_day(day):
        day += timedelta(days=1)
    return day


def add_banking_days(day: date, count: int) -> date:
    """The banking day `count` banking days after `day` (count >= 0)."""
    assert count >= 0
    while count:
        day += timedelta(days=1)
        if is_banking_day(day):
            count -= 1
    return day


def business_now() -> datetime:
    """The real clock: now, in America/New_York."""
    return datetime.now(NEW_YORK)


def business_today(now: datetime | None = None) -> date:
    """The date in America/New_York at `now` (an aware moment; default: the real clock)."""
    return (now or business_now()).astimezone(NEW_YORK).date()
