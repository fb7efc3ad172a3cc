"""ACH return rates against the Nacha limits (no I/O).

Nacha's Rules watch an originator's returned debits over a rolling 60-day window, each
rate being the returns of a kind received in the window over the debit entries originated
in it (Rules, Article Two, Subsection 2.17.2, "ODFI Return Rate Reporting"):

| rate | return reason codes | limit |
|---|---|---|
| unauthorized | R05, R07, R10, R11, R29, R51 | 0.5 % |
| administrative | R02, R03, R04 | 3.0 % |
| overall | every return code | 15.0 % |

A rate at 80 % of its limit or more is a `warning`, one above its limit is `over`.
Everything is integer arithmetic on counts, so a boundary case is never a rounding
question.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

WINDOW_DAYS = 60
WARNING_SHARE_PERCENT = 80  # a warning at 80 % of the limit
Level = Literal["ok", "warning", "over"]
LEVELS: tuple[Level, ...] = ("ok", "warning", "over")


@dataclass(frozen=True)
class Category:
    name: str
    label: str
    codes: frozenset[str] | None  # None: every return code
    limit_basis_points: int       # 1 basis point = 0.01 %


CATEGORIES = (
    Category("unauthorized", "unauthorized (R05 R07 R10 R11 R29 R51)",
             frozenset({"R05", "R07", "R10", "R11", "R29", "R51"}), 50),
    Category("administrative", "administrative (R02 R03 R04)", frozenset({"R02", "R03", "R04"}), 300),
    Category("overall", "all returns", None, 1500),
)


@dataclass(frozen=True)
class Rate:
    category: Category
    returns: int
    entries: int

    @property
    def level(self) -> Level:
        if self.entries == 0:
            return "ok"
        # returns / entries > limit_bp / 10_000, and >= 80 % of it, without division.
        if self.returns * 10_000 > self.category.limit_basis_points * self.entries:
            return "over"
        if self.returns * 10_000 * 100 >= (self.category.limit_basis_points * WARNING_SHARE_PERCENT
                                            * self.entries):
            return "warning"
        return "ok"

    @property
    def percent(self) -> str:
        """The rate in percent with two decimals, rounded half up ("0.42")."""
        if self.entries == 0:
            return "0.00"
        hundredths = (self.returns * 10_000 * 2 + self.entries) // (2 * self.entries)
        return f"{hundredths // 100}.{hundredths % 100:02d}"

    @property
    def limit_percent(self) -> str:
        bp = self.category.limit_basis_points
        return f"{bp // 100}.{bp % 100:02d}"

    @property
    def ratio(self) -> float:
        """For the metric only (a gauge is a float); decisions use `level`."""
        return self.returns / self.entries if self.entries else 0.0


def window(day: date) -> tuple[date, date]:
    """The 60 calendar days ending on `day`, both ends included."""
    return day - timedelta(days=WINDOW_DAYS - 1), day


def rates(returns_by_code: Mapping[str, int], entries: int) -> list[Rate]:
    return [Rate(c, sum(n for code, n in returns_by_code.items()
                        if c.codes is None or code in c.codes), entries) for c in CATEGORIES]


def raised(before: Level | None, now: Level) -> bool:
    """Whether moving from `before` to `now` is news for operators: a rate reaching the
    warning line, or crossing the limit. Falling back is recorded but tells no one."""
    return LEVELS.index(now) > LEVELS.index(before or "ok")
