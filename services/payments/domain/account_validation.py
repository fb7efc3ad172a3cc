"""Account validation of a bank account new to the system (Nacha's WEB debit rule): a
zero-dollar prenote, or two micro-entry credits with their offsetting debit, go in the
next ACH file; the account's debits wait until it is validated, unless waiting would miss
the due date of what they pay (they then go in the same file as the validation entries).

Pure rules: no I/O. See docs/design.md "Account validation".
"""
from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from shared.calendar import add_banking_days
from shared.numbers import is_digits

METHODS = ("prenote", "micro_entries")
# Nacha Operating Rules, Article Two, Subsection 2.6 (Prenotifications): live entries may
# follow a prenote from the third banking day after its settlement date, when no return or
# notification of change arrived for it.
PRENOTE_WAIT_BANKING_DAYS = 3
MICRO_ENTRY_DESCRIPTION = "ACCTVERIFY"  # the Company Entry Description the rule requires
MICRO_TRIES_MAX = 3
# A return on a validation entry that means the account cannot be debited.
INVALID_ACCOUNT_CODES = frozenset({"R02", "R03", "R04", "R16", "R20"})


def entry_effective_date(cutoff_day: date) -> date:
    """The settlement date of entries sent in the cutoff file of `cutoff_day`."""
    return add_banking_days(cutoff_day, 1)


def prenote_live_from(prenote_effective: date) -> date:
    """The first cutoff day whose file may carry live debits after a prenote settled on
    `prenote_effective`."""
    return add_banking_days(prenote_effective, PRENOTE_WAIT_BANKING_DAYS)


def earliest_debit_date(method: str, cutoff_day: date) -> date:
    """The earliest settlement date of a debit that waits for a validation whose entries
    go in the file of `cutoff_day`: after the prenote's wait, or (micro-entries) on the
    banking day after the member could confirm the amounts (the day they land)."""
    effective = entry_effective_date(cutoff_day)
    if method == "prenote":
        return add_banking_days(prenote_live_from(effective), 1)
    return add_banking_days(effective, 1)


def goes_with_validation(method: str, cutoff_day: date, due_date: date | None) -> bool:
    """A debit goes in the same file as its account's validation entries when sending it
    now settles it by the due date of what it pays and waiting for the validation would
    settle it after (a debit already late waits like any other)."""
    return (due_date is not None and entry_effective_date(cutoff_day) <= due_date
            < earliest_debit_date(method, cutoff_day))


def micro_amounts(randbelow: Callable[[int], int] = secrets.randbelow) -> tuple[int, int]:
    """Two different credits of 1 to 99 cents."""
    first = 1 + randbelow(99)
    second = 1 + randbelow(98)
    if second >= first:
        second += 1
    return first, second


_AMOUNT = re.compile(r"(?:\$?0?\.)?([0-9]{1,2})")


def parse_cents(text: object) -> int | None:
    """An amount under $1 as a member types it ("0.07", ".07", "$0.07" or "7" cents):
    ASCII digits only; None when it is not one."""
    if not isinstance(text, str):
        return None
    m = _AMOUNT.fullmatch(text.strip())
    if m is None or not is_digits(m.group(1)):
        return None
    digits = m.group(1)
    if "." in text and len(digits) != 2:
        return None
    cents = int(digits)
    return cents if 1 <= cents <= 99 else None


@dataclass(frozen=True)
class Answer:
    matched: bool
    tries: int
    exhausted: bool

    @property
    def tries_left(self) -> int:
        return max(MICRO_TRIES_MAX - self.tries, 0)


def check_amounts(expected: tuple[int, int] | list[int], typed: list[int], tries_before: int) -> Answer:
    """The two amounts in either order; a wrong answer spends one try."""
    if sorted(typed) == sorted(expected):
        return Answer(True, tries_before + 1, False)
    tries = tries_before + 1
    return Answer(False, tries, tries >= MICRO_TRIES_MAX)
