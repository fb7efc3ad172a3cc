"""Business time: America/New_York, banking days without weekends and Federal Reserve
holidays (from the `holidays` library's Federal Reserve calendar)."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

NEW_YORK = ZoneInfo("America/New_York")


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


def business_today(now: datetime | None = None) -> date:
    """Today's date in America/New_York."""
    return (now or datetime.now(NEW_YORK)).astimezone(NEW_YORK).date()
