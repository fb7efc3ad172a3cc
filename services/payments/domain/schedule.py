"""Dates: autopay draft days, withdrawal dates, confirmation numbers. Pure rules."""
from __future__ import annotations

import secrets
from datetime import date

from shared.calendar import add_banking_days, is_banking_day, next_banking_day

_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud on the phone


def confirmation_number() -> str:
    return "PMT-" + "".join(secrets.choice(_ALPHABET) for _ in range(12))


def mandate_confirmation_number() -> str:
    """A recurring payment set-up's own number (AUT-), apart from any payment's (PMT-)."""
    return "AUT-" + "".join(secrets.choice(_ALPHABET) for _ in range(12))


def draft_date(year: int, month: int, day: int = 22) -> date:
    """The autopay draft day of a month: the 22nd, or the next banking day after it."""
    return next_banking_day(date(year, month, day))


def cycle_of(run_date: date, day: int = 22) -> str | None:
    """'YYYY-MM' when `run_date` is that month's draft day, else None."""
    if draft_date(run_date.year, run_date.month, day) == run_date:
        return f"{run_date.year:04d}-{run_date.month:02d}"
    return None


def next_draft_date(today: date, day: int = 22) -> date:
    d = draft_date(today.year, today.month, day)
    if d > today:
        return d
    y, m = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
    return draft_date(y, m, day)


def one_time_withdrawal_date(today: date, after_cutoff: bool) -> date:
    """Two banking days out, three when submitted after the cutoff or on a non-banking day."""
    return add_banking_days(today, 3 if after_cutoff or not is_banking_day(today) else 2)


def autopay_withdrawal_date(run_date: date) -> date:
    """A draft made on the draft day goes in that day's file, effective the next banking day."""
    return add_banking_days(run_date, 1)


def effective_date(expected: date, file_date: date) -> date:
    """The effective entry date in a file made on `file_date`: never earlier than the next
    banking day."""
    return max(expected, add_banking_days(file_date, 1))
