"""SQL of the batch jobs: autopay drafts, ACH origination, settlement, returns."""
from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import asyncpg

from services.payments.adapters.repository import PAYMENT_COLUMNS
from services.payments.adapters.validation_store import HOLD_CLAUSE
from shared import locks

# One autopay draft per mandate and cycle: INSERT ... SELECT ... ON CONFLICT DO NOTHING, so a
# repeated or concurrent run inserts nothing twice. The split across coverage years is the
# positive lines when they add up to the total, else the whole total on the newest line.
# Payments of the account still on their way (pending or originated, other than this very
# draft) are subtracted, so autopay never charges again what a one-time payment covers.
# Regulation E: a draft never takes more than the cycle's ceiling in autopay_notices (the
# amount noticed, or the member's range's high end); a cycle with no row (a mandate loaded
# around the notice job) takes what is owed, as before.
_DRAFT = f"""
INSERT INTO payments (payment_id, confirmation_number, billing_account_number, plan_type, kind,
    channel, rail, amount_cents, allocations, method_id, method_type, method_last4, method_brand,
    status, submitted_on, expected_withdrawal_date, mandate_id, cycle, contact, member_id)
SELECT gen_random_uuid(),
       'PMT-' || upper(substr(md5(m.mandate_id::text || clock_timestamp()::text || random()::text), 1, 16)),
       m.billing_account_number, m.plan_type, 'recurring', 'autopay', 'ach', amt.cents,
       CASE WHEN pos.total = amt.cents THEN pos.allocs
            ELSE jsonb_build_array(jsonb_build_object('coverage_year', pos.newest,
                                                      'amount_cents', amt.cents)) END,
       x.method_id, x.type, x.last4, x.brand, 'pending', $2, $3, m.mandate_id, $4, m.contact, m.member_id
FROM mandates m
JOIN owed_accounts o ON o.billing_account_number = m.billing_account_number
JOIN methods x ON x.method_id = m.method_id
LEFT JOIN autopay_notices n ON n.mandate_id = m.mandate_id AND n.cycle = $4
CROSS JOIN LATERAL (
    SELECT coalesce(sum(b) FILTER (WHERE b > 0), 0) AS total,
           coalesce(jsonb_agg(jsonb_build_object('coverage_year', y, 'amount_cents', b) ORDER BY y)
                    FILTER (WHERE b > 0), '[]'::jsonb) AS allocs,
           coalesce(max(y), extract(year FROM $2::date)::int) AS newest
    FROM (SELECT (l->>'coverage_year')::int AS y, (l->>'balance_cents')::bigint AS b
          FROM jsonb_array_elements(o.lines) l) lines
) pos
CROSS JOIN LATERAL (
    SELECT coalesce(sum(p.amount_cents), 0)::bigint AS cents FROM payments p
    WHERE p.billing_account_number = m.billing_account_number
      AND p.status IN ('pending', 'originated')
      AND (p.mandate_id IS DISTINCT FROM m.mandate_id OR p.cycle IS DISTINCT FROM $4)
) fly
CROSS JOIN LATERAL (
    SELECT CASE WHEN n.ceiling_cents IS NULL THEN o.total_balance_cents - fly.cents
                ELSE least(o.total_balance_cents - fly.cents, n.ceiling_cents) END AS cents
) amt
WHERE m.mandate_id = ANY($1::uuid[]) AND m.status = 'active' AND x.status = 'active'
  AND x.type IN ('checking', 'savings') AND amt.cents > 0
ON CONFLICT (mandate_id, cycle) WHERE mandate_id IS NOT NULL AND cycle IS NOT NULL AND retry_of IS NULL
DO NOTHING
RETURNING {PAYMENT_COLUMNS}"""


async def next_mandates(conn: asyncpg.Connection, after: uuid.UUID, limit: int) -> list[uuid.UUID]:
    rows = await conn.fetch("SELECT mandate_id FROM mandates WHERE status = 'active' AND mandate_id > $1 "
                            "ORDER BY mandate_id LIMIT $2", after, limit)
    return [r[0] for r in rows]


async def count_active_mandates(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT count(*) FROM mandates WHERE status = 'active'")


async def draft(conn: asyncpg.Connection, mandate_ids: list[uuid.UUID], run_date: date,
                withdrawal: date, cycle: str) -> list[asyncpg.Record]:
    return await conn.fetch(_DRAFT, mandate_ids, run_date, withdrawal, cycle)


# ------------------------------------------------------------------ origination
async def file_of_date(conn: asyncpg.Connection, day: date, window: int = 0) -> asyncpg.Record | None:
    """The day's standard file (window 0) or the file of a same-day window (1, 2, 3)."""
    return await conn.fetchrow("SELECT * FROM ach_files WHERE business_date = $1 AND same_day_window = $2",
                               day, window)


async def open_file(conn: asyncpg.Connection, day: date, name: str, window: int = 0) -> int:
    return await conn.fetchval(
        """INSERT INTO ach_files (business_date, file_name, sha256, entries, batches, debit_cents,
           entry_hash, same_day_window) VALUES ($1, $2, '', 0, 0, 0, 0, $3) RETURNING file_id""",
        day, name, window)


async def close_file(conn: asyncpg.Connection, file_id: int, sha: str, totals: dict[str, Any]) -> None:
    await conn.execute("""UPDATE ach_files SET sha256 = $2, entries = $3, batches = $4,
                          debit_cents = $5, entry_hash = $6 WHERE file_id = $1""",
                       file_id, sha, totals["entries"], totals["batches"], totals["debit_cents"],
                       totals["entry_hash"])


async def assign_to_file(conn: asyncpg.Connection, file_id: int, day: date, next_banking: date,
                         odfi8: str) -> int:
    """Every pending bank debit submitted by `day` goes into the file, with a trace number;
    a same-day debit only once its own date has come without a same-day file taking it."""
    result = await conn.execute(
        """UPDATE payments SET status = 'originated', ach_file_id = $1,
             effective_date = greatest(expected_withdrawal_date, $3),
             trace_number = $4 || lpad(nextval('ach_trace_seq')::text, 7, '0'), updated_at = now()
           WHERE status = 'pending' AND rail = 'ach' AND submitted_on <= $2
             AND (same_day_window IS NULL OR expected_withdrawal_date <= $2) """ + HOLD_CLAUSE,
        file_id, day, next_banking, odfi8)
    return int(result.split()[-1])


async def assign_same_day(conn: asyncpg.Connection, file_id: int, day: date, window: int,
                          odfi8: str) -> int:
    """The same-day debits of `day` given this window or an earlier one go into the
    window's file, effective (withdrawn) that same day."""
    result = await conn.execute(
        """UPDATE payments SET status = 'originated', ach_file_id = $1, effective_date = $2,
             trace_number = $4 || lpad(nextval('ach_trace_seq')::text, 7, '0'), updated_at = now()
           WHERE status = 'pending' AND rail = 'ach' AND same_day_window IS NOT NULL
             AND same_day_window <= $3 AND expected_withdrawal_date = $2 """ + HOLD_CLAUSE,
        file_id, day, window, odfi8)
    return int(result.split()[-1])


_FILE_ENTRIES = """SELECT p.payment_id, p.effective_date, p.trace_number, p.amount_cents, p.billing_account_number,
       p.channel, p.method_id, x.type, x.holder_name, x.routing_number, x.account_ciphertext, x.key_id
FROM payments p JOIN methods x USING (method_id)
WHERE p.ach_file_id = $1 ORDER BY p.effective_date, p.trace_number"""


async def file_entries(conn: asyncpg.Connection, file_id: int) -> AsyncIterator[asyncpg.Record]:
    """The debits of a NACHA file in the file's order (effective date, trace number), with
    their method's encrypted account, read through a cursor 5,000 rows at a time so a
    file of any size is streamed, never held whole; the caller's transaction holds it."""
    async for row in conn.cursor(_FILE_ENTRIES, file_id, prefetch=5000):
        yield row


async def hold_out(conn: asyncpg.Connection, payment_id: uuid.UUID, code: str) -> asyncpg.Record:
    """A debit the file could not carry leaves it: failed, with no file or trace number."""
    return await conn.fetchrow(
        f"""UPDATE payments SET status = 'failed', failure_code = $2, ach_file_id = NULL,
              trace_number = NULL, effective_date = NULL, updated_at = now()
            WHERE payment_id = $1 RETURNING {PAYMENT_COLUMNS}""", payment_id, code)


async def drop_file(conn: asyncpg.Connection, file_id: int) -> None:
    await conn.execute("DELETE FROM ach_files WHERE file_id = $1", file_id)


# ------------------------------------------------------------------ settlement
async def settle_batch(conn: asyncpg.Connection, day: date, limit: int) -> list[asyncpg.Record]:
    """Settle up to `limit` originated debits effective by `day`: picked and locked once,
    as an array, then each updated by its key (no join for PostgreSQL to re-run per row)."""
    return await conn.fetch(
        f"""UPDATE payments SET status = 'settled', settled_on = effective_date, updated_at = now()
            WHERE payment_id = ANY(ARRAY(SELECT payment_id FROM payments
                                         WHERE status = 'originated' AND effective_date <= $1
                                         LIMIT $2 FOR UPDATE SKIP LOCKED))
            RETURNING {PAYMENT_COLUMNS}""", day, limit)


# ------------------------------------------------------------------ returns
async def return_file_seen(conn: asyncpg.Connection, sha: str) -> bool:
    return await conn.fetchval("SELECT true FROM ach_return_files WHERE sha256 = $1", sha) or False


async def record_return_file(conn: asyncpg.Connection, sha: str, name: str, day: date,
                             returns: int, nocs: int) -> bool:
    row = await conn.fetchval(
        """INSERT INTO ach_return_files (sha256, file_name, business_date, returns, nocs)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING 1""",
        sha, name, day, returns, nocs)
    return row is not None


async def record_rejected_file(conn: asyncpg.Connection, sha: str, name: str, error: str) -> None:
    await conn.execute("""INSERT INTO ach_rejected_files (sha256, file_name, error) VALUES ($1, $2, $3)
                          ON CONFLICT (sha256) DO UPDATE SET error = EXCLUDED.error""", sha, name, error)


async def payment_by_trace(conn: asyncpg.Connection, trace: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"""SELECT {PAYMENT_COLUMNS} FROM payments WHERE trace_number = $1
            AND status IN ('originated', 'settled', 'returned')
            ORDER BY created_at DESC LIMIT 1 FOR UPDATE""", trace)


async def mandate(conn: asyncpg.Connection, mandate_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM mandates WHERE mandate_id = $1", mandate_id)


# ------------------------------------------------------------------ return rates
async def debit_entries_originated(conn: asyncpg.Connection, start: date, end: date) -> int:
    """ACH debit entries sent in the files of business dates `start`..`end` (retries too:
    each presentment is an entry)."""
    return await conn.fetchval(
        """SELECT count(*) FROM payments p JOIN ach_files f ON f.file_id = p.ach_file_id
           WHERE f.business_date BETWEEN $1 AND $2""", start, end)


async def returns_received(conn: asyncpg.Connection, start: date, end: date) -> dict[str, int]:
    """Returns read on business dates `start`..`end`, by return code."""
    rows = await conn.fetch(
        """SELECT return_code, count(*) AS n FROM payments
           WHERE returned_on BETWEEN $1 AND $2 AND rail = 'ach' AND return_code IS NOT NULL
           GROUP BY return_code""", start, end)
    return {r["return_code"]: r["n"] for r in rows}


async def return_rate_levels(conn: asyncpg.Connection | asyncpg.Pool) -> dict[str, asyncpg.Record]:
    rows = await conn.fetch("SELECT * FROM return_rate_levels")
    return {r["category"]: r for r in rows}


async def save_return_rate_level(conn: asyncpg.Connection, category: str, level: str,
                                 day: date, returns: int, entries: int) -> None:
    await conn.execute(
        """INSERT INTO return_rate_levels (category, level, business_date, returns, entries)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (category) DO UPDATE SET level = $2, business_date = $3, returns = $4,
               entries = $5, updated_at = now()""", category, level, day, returns, entries)


async def archived_files(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Every NACHA file sent (debits, same-day, refunds) and every return file read, by
    name, with the SHA-256 recorded when it was written or read (a file not yet written has
    none and is left out)."""
    return await conn.fetch(
        """SELECT file_name, sha256 FROM ach_files WHERE sha256 <> ''
           UNION ALL SELECT file_name, sha256 FROM refund_files WHERE sha256 <> ''
           UNION ALL SELECT file_name, sha256 FROM ach_return_files ORDER BY 1""")


async def lock_return_rates(conn: asyncpg.Connection) -> None:
    """Holds the return-rate measurement's lock until the transaction ends: one measurement
    at a time, so two intakes never announce the same rise twice."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", locks.PAYMENTS_RETURN_RATES)
