"""Billing's daily jobs, each runnable for any business date; a second run for the same
date changes nothing (every write is keyed by account and month or recorded once).

- invoice-cycle (service_layer/cycle.py): bill coverage month M (the month after the date)
  for every line in force, due the 23rd of the date's month.
- binder-deadline: a binder still unpaid after its due date means the enrollment never
  starts (`coverage.terminated`, reason binder_unpaid).
- delinquency: grace periods start, are noticed each month and end in termination.
- reconcile: prove the ledger and every cached figure agree.
"""
from __future__ import annotations

from datetime import date

import asyncpg

from services.billing.adapters import repository as repo
from services.billing.domain.reinstatement import reinstate_by
from services.billing.domain.rules import Grace, grace_for, month_of_grace, plan_progress, termination_date
from services.billing.service_layer.accounts import balance_changed, total_balance
from services.billing.service_layer.cycle import Progress, _quiet, invoice_cycle
from shared.contracts import billing as ev
from shared.contracts.envelope import Envelope
from shared.outbox import enqueue, enqueue_many

__all__ = ["binder_deadline", "delinquency", "invoice_cycle", "reconcile"]


async def binder_deadline(pool: asyncpg.Pool, day: date, progress: Progress = _quiet) -> dict:
    """Lines whose binder is unpaid after its due date never start: `coverage.terminated`
    (binder_unpaid), what was billed for that year is voided, the new balance announced."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await repo.cancel_unpaid_binders(conn, day)
        events = []
        for r in sorted(rows, key=lambda r: (r["billing_account_number"], r["coverage_year"])):
            ban = r["billing_account_number"]
            await repo.void_open_invoices(conn, ban, r["coverage_year"], day)
            events.append(Envelope.of(ev.CoverageTerminatedData(
                billing_account_number=ban, enrollment_ids=[r["enrollment_id"]],
                coverage_year=r["coverage_year"], effective_date=r["coverage_start"].isoformat(),
                reason="binder_unpaid"), key=ban))
        for ban in sorted({r["billing_account_number"] for r in rows}):
            events.append(Envelope.of(await balance_changed(conn, ban, "binder_unpaid", day), key=ban))
        await enqueue_many(conn, events)
        await repo.record_job(conn, "binder-deadline", day, {"cancelled": len(rows)})
    progress(f"binder-deadline {day}: {len(rows)} enrollments did not start (binder unpaid)")
    return {"cancelled": len(rows)}


async def delinquency(pool: asyncpg.Pool, day: date, progress: Progress = _quiet) -> dict:
    """Start, notice and end grace periods for accounts with money past due."""
    counts = {"grace_started": 0, "grace_notice": 0, "terminated": 0, "resolved": 0}
    async with pool.acquire() as conn:
        bans = await repo.delinquency_candidates(conn, day)
    for n, ban in enumerate(sorted(bans), 1):
        async with pool.acquire() as conn, conn.transaction():
            outcome = await _delinquency_step(conn, ban, day)
        if outcome:
            counts[outcome] += 1
        if n % 1000 == 0:
            progress(f"delinquency {day}: {n:,}/{len(bans):,} accounts")
    async with pool.acquire() as conn:
        await repo.record_job(conn, "delinquency", day, counts)
    progress(f"delinquency {day}: {counts}")
    return counts


async def _delinquency_step(conn: asyncpg.Connection, ban: str, day: date) -> str | None:
    acct = await repo.account(conn, ban, lock=True)
    row = await repo.delinquency(conn, ban)
    cents, oldest = await repo.past_due(conn, ban, day)
    if row is not None and row["status"] == "in_grace" and cents == 0:
        await repo.resolve_delinquency_row(conn, ban, day)
        return "resolved"
    if cents == 0 or oldest is None:
        return None
    if await _plan_is_current(conn, ban, day):
        return None  # a hardship plan that is being kept suspends delinquency
    if row is None or row["status"] in ("resolved", "reinstated"):
        grace = grace_for(oldest, acct["aptc"])
        await repo.start_grace(conn, ban, grace.start, grace.end, grace.months, day)
        await _notice(conn, acct, grace, "grace_started", 1, cents, day)
        return "grace_started"
    if row["status"] != "in_grace":
        return None
    grace = Grace(row["grace_start"], row["grace_end"], row["grace_months"])
    if day > grace.end:
        end = termination_date(grace, acct["aptc"])
        lines = await repo.terminate_active_lines(conn, ban, end)
        await repo.terminate_delinquency_row(conn, ban, end)
        await _notice(conn, acct, grace, "grace_ended", grace.months, cents, day)
        # Today's notice opens the 35 days in which paying the whole balance reinstates.
        owed = await total_balance(conn, ban)
        for year in sorted({r["coverage_year"] for r in lines}):
            await enqueue(conn, ev.CoverageTerminatedData(
                billing_account_number=ban, coverage_year=year,
                enrollment_ids=[r["enrollment_id"] for r in lines if r["coverage_year"] == year],
                effective_date=end.isoformat(), reason="non_payment",
                reinstatement_amount_cents=owed, reinstate_by=reinstate_by(day).isoformat()), key=ban)
        await enqueue(conn, await balance_changed(conn, ban, "coverage_terminated", day), key=ban)
        return "terminated"
    month = month_of_grace(grace, day)
    if month > 1 and await _notice(conn, acct, grace, "grace_notice", month, cents, day):
        return "grace_notice"
    return None


async def _notice(conn: asyncpg.Connection, acct: asyncpg.Record, grace: Grace, stage: str,
                  month: int, cents: int, day: date) -> bool:
    ban = acct["billing_account_number"]
    if not await repo.record_notice(conn, ban, grace.start, stage, month, day):
        return False
    await enqueue(conn, ev.AccountDelinquentData(
        billing_account_number=ban, stage=stage, aptc=acct["aptc"], past_due_cents=cents,
        grace_start=grace.start.isoformat(), grace_end=grace.end.isoformat(),
        month_of_grace=month), key=ban)
    return True


async def _plan_is_current(conn: asyncpg.Connection, ban: str, day: date) -> bool:
    """A hardship plan being kept suspends delinquency (see rules.plan_progress); a plan
    found broken or completed is closed here."""
    plan = await repo.active_plan(conn, ban)
    if plan is None:
        return False
    progress = plan_progress(plan["schedule"], await repo.paid_since(conn, ban, plan["created_on"]),
                             day)
    if progress.status == "current":
        return True
    await repo.set_plan_status(conn, plan["plan_id"], progress.status)
    return False


async def reconcile(pool: asyncpg.Pool, progress: Progress = _quiet) -> list[dict]:
    """For every account: each invoice's paid cache equals its ledger entries, every entry
    of a coverage year belongs to an invoice of that year (so each line's balance, summed
    from entries, is what its invoices still owe), and the money the ledger credits equals
    the settled, unreturned payments received. Returns the problems (empty: all agree)."""
    async with pool.acquire() as conn:
        bad_invoices = await repo.invoice_cache_mismatches(conn)
        bad_credits = await repo.credit_mismatches(conn)
        # Every entry with a coverage year sits on an invoice of that account and year, so
        # the balance per line (entries) equals what its invoices say is still owed.
        orphans = await repo.orphan_entries(conn)
    problems = [{"billing_account_number": r["ban"], "invoice_id": str(r["invoice_id"]),
                 "problem": f"invoice {r['amount_cents']} paid {r['paid_cents']} but ledger "
                            f"billed {r['billed']} paid {r['paid']}"} for r in bad_invoices]
    problems += [{"billing_account_number": r["ban"],
                  "problem": f"ledger credits {r['credited']} but settled payments {r['received']}"
                             + (f"; unbalanced credit pairs {r['credit_pairs']}" if r["credit_pairs"] else "")}
                 for r in bad_credits]
    problems += [{"billing_account_number": r["ban"],
                  "problem": f"{r['n']} ledger entries ({r['cents']} cents) on no invoice of their year"}
                 for r in orphans]
    problems.sort(key=lambda p: p["billing_account_number"])
    progress(f"reconcile: {len(problems)} problems")
    return problems

