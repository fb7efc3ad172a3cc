"""Billing's notion of today: the business date in America/New_York, which tests that walk
a member through a year set explicitly (the jobs themselves always take a date)."""
from __future__ import annotations

from datetime import date

from shared.calendar import business_today

_fixed: date | None = None


def today() -> date:
    return _fixed or business_today()


def fix(day: date | None) -> None:
    """Pin today (None returns to the real date)."""
    global _fixed
    _fixed = day
