"""Regulation E (12 CFR 1005.10) for the monthly autopay draft, whose amount varies with the
balance: when a draft's notice goes out, whether one is owed at all, the most a draft may
take, and the cancellation cut-off. Pure rules: dates and integer cents, no I/O.

- 1005.10(d)(1): a preauthorized debit that varies from the previous one under the same
  authorization needs a written notice of its amount and date at least 10 days before it.
  The first draft of a mandate varies from nothing, so it is noticed too (the set-up
  confirmation states its date but not its amount), except a set-up made inside the
  10 days: its confirmation states both, and is that draft's notice.
- 1005.10(d)(2): the member may instead choose a range; only an amount outside it is
  noticed.
- A draft never takes more than the member was told (or, with a range, agreed to): its
  ceiling. A balance that grew after the notice is drafted at the noticed amount, never a
  second, later notice (that would be fewer than 10 days before the draft); a balance that
  shrank is drafted lower, never more than is owed.
- 1005.10(c)(1): a stop-payment order given at least 3 business days before the draft
  stops it. A cancellation on or before the cut-off stops that draft; a later one stops the
  drafts after it, and the member is told the one that still happens.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from services.payments.domain.schedule import cycle_of, next_draft_date
from shared.calendar import is_banking_day

NOTICE_DAYS = 10          # calendar days, 1005.10(d)(1)
CANCEL_BANKING_DAYS = 3   # business days, 1005.10(c)(1)

Reason = Literal["first", "changed", "outside_range", "unchanged", "within_range",
                 "nothing_owed", "set_up"]


def notice_date(draft: date) -> date:
    """The last day a notice of the draft on `draft` may go out: 10 calendar days before."""
    return draft - timedelta(days=NOTICE_DAYS)


def banking_days_before(day: date, count: int) -> date:
    """The banking day `count` banking days before `day` (count >= 1)."""
    assert count >= 1
    while count:
        day -= timedelta(days=1)
        if is_banking_day(day):
            count -= 1
    return day


def cancel_by(draft: date) -> date:
    """The last day a cancellation stops the draft on `draft`: 3 banking days before it."""
    return banking_days_before(draft, CANCEL_BANKING_DAYS)


def upcoming_draft(today: date, day: int = 22) -> date:
    """The earliest draft date not yet past on `today`: today itself on a draft day."""
    return today if cycle_of(today, day) else next_draft_date(today, day)


def draft_to_notice(today: date, day: int = 22) -> date | None:
    """The draft date whose notices go out on `today` (its notice date has come and it is
    still ahead), or None between notice windows."""
    draft = next_draft_date(today, day)
    return draft if notice_date(draft) <= today else None


def set_up_inside_notice_window(today: date, day: int = 22) -> date | None:
    """A mandate set up on `today` when its first draft's notice date has come (the day's
    notice run may be over): that draft's date, whose amount the set-up confirmation
    states, else None."""
    draft = next_draft_date(today, day)
    return draft if notice_date(draft) <= today else None


@dataclass(frozen=True)
class CancelWindow:
    """What a cancellation made today does: it stops `stops_draft_date` (and every draft
    after it) when made by `cancel_by`; `still_drafted` is the upcoming draft it no longer
    stops (past its cut-off), or None."""
    cancel_by: date
    stops_draft_date: date
    still_drafted: date | None


def cancel_window(today: date, day: int = 22) -> CancelWindow:
    draft = upcoming_draft(today, day)
    if today <= cancel_by(draft):
        return CancelWindow(cancel_by(draft), draft, None)
    following = next_draft_date(draft, day)
    window = CancelWindow(cancel_by(following), following, draft)
    assert today <= window.cancel_by, window
    return window


@dataclass(frozen=True)
class NoticeRange:
    """The member's choice at set-up: tell me only when the draft is outside low..high."""
    low_cents: int
    high_cents: int

    def __post_init__(self) -> None:
        assert 0 <= self.low_cents <= self.high_cents, self


@dataclass(frozen=True)
class NoticeDecision:
    send: bool
    reason: Reason
    ceiling_cents: int  # the most the draft of this cycle may take


def decide_notice(amount_cents: int, previous_cents: int | None,
                  notice_range: NoticeRange | None = None) -> NoticeDecision:
    """Whether the upcoming draft of `amount_cents` needs a notice, given the previous
    draft's amount (None for a mandate's first) and the member's range if they chose one."""
    assert amount_cents >= 0 and (previous_cents is None or previous_cents >= 0)
    if amount_cents == 0:  # nothing will be drafted: nothing to tell
        return NoticeDecision(False, "nothing_owed", 0)
    if notice_range is not None:
        if notice_range.low_cents <= amount_cents <= notice_range.high_cents:
            return NoticeDecision(False, "within_range", notice_range.high_cents)
        return NoticeDecision(True, "outside_range", amount_cents)
    if previous_cents is None:
        return NoticeDecision(True, "first", amount_cents)
    if amount_cents == previous_cents:
        return NoticeDecision(False, "unchanged", amount_cents)
    return NoticeDecision(True, "changed", amount_cents)


def draft_amount(owed_cents: int, ceiling_cents: int | None) -> int:
    """What a draft takes: what is owed, never more than the cycle's ceiling (None: the
    cycle was never looked at by the notice job, a mandate loaded around it)."""
    assert ceiling_cents is None or ceiling_cents >= 0
    owed = max(owed_cents, 0)
    return owed if ceiling_cents is None else min(owed, ceiling_cents)
