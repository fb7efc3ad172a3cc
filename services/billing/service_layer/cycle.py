"""The monthly invoice cycle: coverage month M billed in M-1, due the 23rd of M-1, for
every line in force, with `invoice.issued` and `balance.changed` through the outbox.
Idempotent per account and coverage month; runnable for any business date."""
from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timezone

import asyncpg

from services.billing.adapters import cycle_sql
from services.billing.adapters import repository as repo
from services.billing.domain.rules import cycle_month, due_date_for
from services.billing.service_layer.accounts import after_invoices
from shared.contracts.envelope import wire_time
from shared.contracts.topics import BILLING_V1, TOPICS
from shared.outbox import enqueue

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


async def invoice_cycle(pool: asyncpg.Pool, day: date, progress: Progress = _quiet,
                        chunk: int = 5000) -> dict:
    """Bill coverage month M = the month after `day` for every line in force, due the 23rd
    of `day`'s month, with `invoice.issued` and `balance.changed` through the outbox.

    Accounts are walked in keyset-paginated ranges of `chunk`; each range is one
    transaction of a few set-based statements (INSERT ... SELECT for invoices, ledger
    entries and outbox rows), so memory stays flat however many accounts there are and a
    killed run resumes where it stopped. Accounts holding credit (rare) take the careful
    per-account path that spends the credit on the new invoice first.
    """
    month = cycle_month(day)
    due = due_date_for(month)
    cursor, issued, accounts, events = "", 0, 0, 0
    total = await cycle_sql.account_count(pool)
    while True:
        async with pool.acquire() as conn, conn.transaction():
            hi = await cycle_sql.range_end(conn, cursor, chunk)
            if hi is None:
                break
            await cycle_sql.take_premium_changes(conn, cursor, hi, month.year)
            invoices = await cycle_sql.bill_range(conn, cursor, hi, month, due, day)
            events += await _cycle_events(conn, invoices, day)
            accounts += await cycle_sql.accounts_in_range(conn, cursor, hi)
        cursor = hi
        issued += len(invoices)
        progress(f"invoice-cycle {day}: {accounts:,}/{total:,} accounts, "
                 f"{issued:,} invoices issued for {month:%Y-%m}")
    summary = {"coverage_month": month.isoformat(), "invoices_issued": issued,
               "accounts": accounts, "events": events}
    async with pool.acquire() as conn:
        await repo.record_job(conn, "invoice-cycle", day, summary)
    return summary


async def _cycle_events(conn: asyncpg.Connection, invoices: list[asyncpg.Record],
                        day: date) -> int:
    """Announce a range's new invoices; returns how many outbox rows were written."""
    if not invoices:
        return 0
    by_account: dict[str, list] = {}
    for inv in invoices:
        by_account.setdefault(inv["billing_account_number"], []).append(inv["invoice_id"])
    careful = await cycle_sql.holding_credit(conn, list(by_account))
    written = 0
    for ban in sorted(careful):  # rare: spend the credit, the slow careful way
        rows = await cycle_sql.invoices_by_id(conn, by_account.pop(ban))
        events = await after_invoices(conn, ban, list(rows), day)
        await enqueue(conn, *events, key=ban)
        written += len(events)
    ids = [i for ids in by_account.values() for i in ids]
    if ids:
        written += await cycle_sql.enqueue_cycle_events(
            conn, ids, BILLING_V1, wire_time(datetime.now(timezone.utc)),
            TOPICS[BILLING_V1].producer)
    return written
