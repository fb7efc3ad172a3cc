"""The autopay run: on the draft day (the 22nd, or the next banking day) each active mandate
is drafted for the total owed in the service's projection of billing, at most once per
cycle. Work goes in batches of mandates, each batch one transaction (payments + outbox), so
a run killed midway keeps what it committed and a rerun drafts only the rest."""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import date

from services.payments.adapters import ach_store
from services.payments.adapters import repository as repo
from services.payments.domain import schedule
from services.payments.service_layer import events
from services.payments.service_layer.deps import Deps
from shared import locks
from shared.db import advisory_lock
from shared.outbox import enqueue_many

Progress = Callable[[str], None]


async def run_autopay(deps: Deps, run_date: date, progress: Progress = lambda _: None) -> dict:
    """Drafts the cycle of `run_date`; returns {cycle, mandates, drafted, skipped, ...}."""
    s = deps.settings
    cycle = schedule.cycle_of(run_date, s.autopay_day)
    if cycle is None:
        nxt = schedule.next_draft_date(run_date, s.autopay_day)
        progress(f"{run_date}: not an autopay draft day (next: {nxt}); nothing to do")
        return {"cycle": None, "drafted": 0, "next_draft_date": nxt.isoformat()}
    withdrawal = schedule.autopay_withdrawal_date(run_date)
    async with deps.pool.acquire() as lock_conn, advisory_lock(lock_conn, locks.PAYMENTS_AUTOPAY) as got:
        if not got:
            progress("another autopay run holds the lock; nothing done")
            return {"cycle": cycle, "drafted": 0, "busy": True}
        total = await ach_store.count_active_mandates(lock_conn)
        progress(f"autopay {cycle} (run {run_date}, withdrawal {withdrawal}): "
                 f"{total} active mandates")
        started = time.perf_counter()
        cursor, seen, drafted = uuid.UUID(int=0), 0, 0
        while True:
            async with deps.pool.acquire() as conn, conn.transaction():
                ids = await ach_store.next_mandates(conn, cursor, s.autopay_batch)
                if not ids:
                    break
                rows = await ach_store.draft(conn, ids, run_date, withdrawal, cycle)
                await enqueue_many(conn, (events.submitted_envelope(r) for r in rows))
            cursor, seen, drafted = ids[-1], seen + len(ids), drafted + len(rows)
            rate = drafted / max(time.perf_counter() - started, 1e-9)
            progress(f"  {seen}/{total} mandates looked at, {drafted} drafted now ({rate:,.0f}/s)")
        async with deps.pool.acquire() as conn:
            summary = {"cycle": cycle, "mandates": seen, "drafted": drafted,
                       "already_drafted_or_nothing_owed": seen - drafted}
            await repo.record_job(conn, "autopay", run_date, summary)
        progress(f"done: {drafted} drafted now; {seen - drafted} already drafted, "
                 "nothing owed or method disabled")
        return summary
