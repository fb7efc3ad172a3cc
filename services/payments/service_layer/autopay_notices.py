"""Regulation E for autopay (the rules: domain/regulation_e.py).

- The notice job, each business date: once the next draft's notice date (10 days before
  it) has come, every active mandate is looked at once for that cycle; one whose draft
  would differ from its previous draft (or fall outside the member's range) is sent
  `autopay.upcoming` with the amount and date. The row written per mandate and cycle, in
  the same transaction as the outbox event, is what makes the notice go out once however
  often the job runs, and it holds the cycle's ceiling, which the draft never exceeds.
- A set-up on or after its first draft's notice date: the set-up's confirmation states
  that draft's most and date, and the same row caps it.
- A cancellation after a draft's cut-off (3 banking days before it) no longer stops that
  draft: it is made at once, for its date, so the cancellation names it among the drafts
  in flight."""
from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from typing import Any

import asyncpg

from services.payments.adapters import ach_store, notice_store
from services.payments.adapters import repository as repo
from services.payments.domain import regulation_e, schedule
from services.payments.service_layer import events
from services.payments.service_layer.deps import Deps
from shared.contracts import payments as ev

Progress = Callable[[str], None]


def _range_of(m: Any) -> regulation_e.NoticeRange | None:
    low, high = m["notice_low_cents"], m["notice_high_cents"]
    return None if low is None or high is None else regulation_e.NoticeRange(low, high)


async def run_notices(deps: Deps, run_date: date, progress: Progress = lambda _: None) -> dict:
    """Sends the notices of the draft whose notice window `run_date` is in; returns
    {cycle, draft_date, mandates, noticed}."""
    s = deps.settings
    draft = regulation_e.draft_to_notice(run_date, s.autopay_day)
    if draft is None:
        upcoming = schedule.next_draft_date(run_date, s.autopay_day)
        progress(f"{run_date}: no draft within {regulation_e.NOTICE_DAYS} days (next notices: "
                 f"{regulation_e.notice_date(upcoming)}); nothing to do")
        return {"cycle": None, "noticed": 0,
                "next_notice_date": regulation_e.notice_date(upcoming).isoformat()}
    cycle = schedule.cycle_of(draft, s.autopay_day)
    assert cycle is not None
    cut_off = regulation_e.cancel_by(draft)
    progress(f"autopay notices for the {draft} draft ({cycle}), cancel by {cut_off}")
    cursor, seen, noticed = uuid.UUID(int=0), 0, 0
    while True:
        async with deps.pool.acquire() as conn, conn.transaction():
            rows = await notice_store.mandates_to_notice(conn, cycle, cursor, s.autopay_batch)
            if not rows:
                break
            outgoing: list[ev.AutopayUpcomingData] = []
            for m in rows:
                decision = regulation_e.decide_notice(m["amount_cents"], m["previous_amount_cents"],
                                                      _range_of(m))
                wrote = await notice_store.record_notice(
                    conn, mandate_id=m["mandate_id"], cycle=cycle, draft_date=draft,
                    amount_cents=m["amount_cents"], previous_amount_cents=m["previous_amount_cents"],
                    ceiling_cents=decision.ceiling_cents, reason=decision.reason,
                    noticed=decision.send, business_date=run_date)
                if wrote and decision.send:
                    outgoing.append(events.autopay_upcoming(
                        m, draft, cycle, m["amount_cents"], m["previous_amount_cents"],
                        decision.reason, cut_off))
            await events.enqueue(conn, *outgoing)
        cursor, seen, noticed = rows[-1]["mandate_id"], seen + len(rows), noticed + len(outgoing)
        progress(f"  {seen} mandates looked at, {noticed} noticed")
    summary = {"cycle": cycle, "draft_date": draft.isoformat(), "mandates": seen,
               "noticed": noticed}
    async with deps.pool.acquire() as conn:
        await repo.record_job(conn, "autopay-notices", run_date, summary)
    progress(f"done: {noticed} notices sent; {seen - noticed} unchanged, within range or "
             "nothing owed")
    return summary


async def state_first_draft(conn: asyncpg.Connection, deps: Deps, mandate: Any,
                            today: date) -> int | None:
    """For a set-up made once its first draft's notice date has come: records that draft's
    ceiling (what is owed now) and returns it, for the set-up confirmation to state; None
    when the notice job will send that draft's notice in time."""
    draft = regulation_e.set_up_inside_notice_window(today, deps.settings.autopay_day)
    if draft is None:
        return None
    cycle = schedule.cycle_of(draft, deps.settings.autopay_day)
    assert cycle is not None
    amount = await notice_store.upcoming_amount(conn, mandate["billing_account_number"])
    await notice_store.record_notice(
        conn, mandate_id=mandate["mandate_id"], cycle=cycle, draft_date=draft,
        amount_cents=amount, previous_amount_cents=None, ceiling_cents=amount, reason="set_up",
        noticed=False, business_date=today)
    return amount


async def draft_past_cut_off(conn: asyncpg.Connection, deps: Deps, mandate: Any,
                             today: date) -> list[ev.PaymentSubmittedData]:
    """Before a cancellation on `today`: the upcoming draft whose cut-off has passed still
    happens, so it is made now for its own date (and its withdrawal date); nothing when it
    was already made or nothing is owed. Returns its `payment.submitted`."""
    day = deps.settings.autopay_day
    window = regulation_e.cancel_window(today, day)
    if window.still_drafted is None:
        return []
    draft = window.still_drafted
    cycle = schedule.cycle_of(draft, day)
    assert cycle is not None
    rows = await ach_store.draft(conn, [mandate["mandate_id"]], draft,
                                 schedule.autopay_withdrawal_date(draft), cycle)
    return [events.submitted(r) for r in rows]


def cancellation_view(today: date, day: int) -> dict[str, Any]:
    """What cancelling today does, for the autopay answer: "Cancel by <cancel_by> to stop
    the <stops_draft_date> withdrawal"; `still_drafted_on`: the draft past its cut-off."""
    w = regulation_e.cancel_window(today, day)
    return {"cancel_by": w.cancel_by.isoformat(), "stops_draft_date": w.stops_draft_date.isoformat(),
            "still_drafted_on": w.still_drafted.isoformat() if w.still_drafted else None}


def notice_range_view(m: Any) -> dict[str, int] | None:
    r = _range_of(m)
    return None if r is None else {"low_cents": r.low_cents, "high_cents": r.high_cents}
