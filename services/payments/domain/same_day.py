"""Same Day ACH for binders: a binder debit that standard ACH would settle after the
binder's due date goes in a same-day file instead, within the windows of the day and the
per-entry limit, so a member paying on the last days does not lose the coverage they chose.

The network's rules (docs/design.md "Same Day ACH for binders"):
- The Federal Reserve's FedACH same-day windows: files in by 10:30, 14:45 and 16:45 ET
  settle at 13:00, 17:00 and 18:00 ET the same banking day (FedACH Processing Schedule).
- An entry is a same-day entry when its Effective Entry Date is the day it is sent, in a
  file sent within a window; one entry may carry at most $1,000,000 (Nacha Operating Rules,
  "Increasing the Same Day ACH Dollar Limit", in force since 2022-03-18).
- The batch's Company Descriptive Date may say the intended window as "SD" and its
  settlement time, HHMM (Nacha Operating Rules, Appendix Three, the Company/Batch Header
  Record): "SD1300" for the first window.

Our own send times come before the Fed's deadlines (the bank that sends our files has its
own, earlier ones); each is matched to the first Fed window whose deadline it meets.

Pure rules: no I/O.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

from shared.calendar import NEW_YORK, add_banking_days, is_banking_day, next_banking_day

ENTRY_LIMIT_CENTS = 100_000_000  # $1,000,000 per entry


@dataclass(frozen=True)
class FedWindow:
    number: int       # 1, 2, 3
    deadline: time    # the Fed's last moment to take the file (ET)
    settles_at: time  # when its entries settle (ET)


FED_WINDOWS = (FedWindow(1, time(10, 30), time(13, 0)),
               FedWindow(2, time(14, 45), time(17, 0)),
               FedWindow(3, time(16, 45), time(18, 0)))


@dataclass(frozen=True)
class Window:
    """One of our same-day sends: the time our file goes (ET) and the Fed window it makes."""

    send_at: time
    fed: FedWindow

    @property
    def number(self) -> int:
        return self.fed.number

    @property
    def descriptive_date(self) -> str:
        return f"SD{self.fed.settles_at:%H%M}"

    @property
    def file_id_modifier(self) -> str:
        """B, C, D for windows 1, 2, 3 (the day's standard file is A)."""
        return "ABCD"[self.fed.number]


@dataclass(frozen=True)
class Slot:
    """A window on a banking day: the debit goes in that day's file of that window and is
    withdrawn the same day."""

    day: date
    window: Window


def parse_windows(text: str) -> tuple[Window, ...]:
    """"10:00,14:15,16:15" (ET, ascending) into windows; "" for none. Each time must meet a
    Fed window's deadline, and two times may not make the same Fed window."""
    out: list[Window] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        hh, sep, mm = part.partition(":")
        if not (sep and len(hh) == 2 and len(mm) == 2 and hh.isascii() and hh.isdigit()
                and mm.isascii() and mm.isdigit()):
            raise ValueError(f"same-day send time {part!r}: write it HH:MM (ET)")
        at = time(int(hh), int(mm))
        fed = next((w for w in FED_WINDOWS if at <= w.deadline), None)
        if fed is None:
            raise ValueError(f"same-day send time {part}: after the Fed's last same-day deadline (16:45 ET)")
        if out and (at <= out[-1].send_at or fed.number == out[-1].number):
            raise ValueError(f"same-day send time {part}: the times must be ascending, one per Fed window")
        out.append(Window(at, fed))
    return tuple(out)


def next_slot(now: datetime, windows: tuple[Window, ...]) -> Slot | None:
    """The first window still to come at `now`: today's if a banking day with one left,
    else the next banking day's first. None when there are no windows."""
    if not windows:
        return None
    local = now.astimezone(NEW_YORK)
    today = local.date()
    if is_banking_day(today):
        for w in windows:
            if local.time() < w.send_at:
                return Slot(today, w)
        return Slot(add_banking_days(today, 1), windows[0])
    return Slot(next_banking_day(today), windows[0])


@dataclass(frozen=True)
class Plan:
    """When a binder debit is withdrawn to meet its due date: from the next standard file,
    settled the banking day after it (`slot` None), or in a same-day window (`slot`)."""

    sent_on: date      # the business date of the file it goes in
    withdrawal: date   # its effective entry date: when it is withdrawn and settles
    slot: Slot | None = None


def next_cutoff_day(now: datetime, cutoff_hour: int) -> date:
    """The business date of the next standard file: today before the cutoff hour on a
    banking day, else the next banking day."""
    local = now.astimezone(NEW_YORK)
    today = local.date()
    return today if is_banking_day(today) and local.hour < cutoff_hour else add_banking_days(today, 1)


def plan(now: datetime, windows: tuple[Window, ...], cutoff_hour: int, *, binder: bool,
         due_date: date | None, standard_date: date, amount_cents: int) -> Plan | None:
    """How a debit meets the due date of the binder it pays, when its usual withdrawal date
    (`standard_date`) would miss it: the next standard file settled the next banking day
    if that is in time (it costs nothing more), else a same-day window that settles it by
    the due date, within the per-entry limit. None: nothing to change (not a binder, in
    time anyway, or too late for every way)."""
    if not binder or due_date is None or standard_date <= due_date:
        return None
    file_day = next_cutoff_day(now, cutoff_hour)
    next_day = add_banking_days(file_day, 1)
    if next_day <= due_date:
        return Plan(file_day, next_day)
    slot = next_slot(now, windows)
    if slot is None or slot.day > due_date or amount_cents > ENTRY_LIMIT_CENTS:
        return None  # too late for any window (or too large for one): the usual way
    return Plan(slot.day, slot.day, slot)


def window_numbered(windows: tuple[Window, ...], number: int) -> Window | None:
    return next((w for w in windows if w.number == number), None)
