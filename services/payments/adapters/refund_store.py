"""SQL of refunds: requests, approval, the day's ACH refund file, returns."""
from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import asyncpg

from shared import locks

REFUND_COLUMNS = """refund_id, confirmation_number, billing_account_number, amount_cents, payment_id,
    method_id, method_type, method_last4, method_brand, rail, status, idempotency_key, contact,
    member_id, requested_on, approved_by, approved_at, refund_file_id, trace_number,
    effective_date, issued_on, issued_at, processor_refund_id, returned_on, return_code,
    failure_code, created_at"""


async def lock_account(conn: asyncpg.Connection, ban: str) -> asyncpg.Record | None:
    """The projection's row of the account, locked: one refund request per account at a
    time, so two at once cannot both take the same credit."""
    return await conn.fetchrow("SELECT * FROM owed_accounts WHERE billing_account_number = $1 FOR UPDATE",
                               ban)


async def on_their_way_cents(conn: asyncpg.Connection, ban: str, balance_as_of: Any) -> int:
    """Refunds not yet in billing's balance: waiting or approved, and those issued after the
    balance the projection holds was computed."""
    return await conn.fetchval(
        """SELECT coalesce(sum(amount_cents), 0)::bigint FROM refunds
           WHERE billing_account_number = $1
             AND (status IN ('pending_approval', 'approved')
                  OR (status = 'issued' AND ($2::timestamptz IS NULL OR issued_at > $2)))""",
        ban, balance_as_of)


async def paying_payment(conn: asyncpg.Connection, ban: str) -> asyncpg.Record | None:
    """The latest settled payment of the account by bank account or card, with its method:
    the refund goes back there."""
    return await conn.fetchrow(
        """SELECT p.payment_id, p.rail, p.amount_cents, p.processor_charge_id, p.method_id,
                  p.contact, p.member_id,
                  x.type AS method_type, x.last4 AS method_last4, x.brand AS method_brand
           FROM payments p JOIN methods x USING (method_id)
           WHERE p.billing_account_number = $1 AND p.status = 'settled' AND p.rail IN ('ach', 'card')
           ORDER BY p.settled_on DESC NULLS LAST, p.created_at DESC LIMIT 1""", ban)


async def insert(conn: asyncpg.Connection, **values: Any) -> asyncpg.Record:
    cols = list(values)
    return await conn.fetchrow(
        f"INSERT INTO refunds ({', '.join(cols)}) VALUES "
        f"({', '.join(f'${i + 1}' for i in range(len(cols)))}) RETURNING {REFUND_COLUMNS}",
        *values.values())


async def get(conn: asyncpg.Connection, refund_id: uuid.UUID, *, lock: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {REFUND_COLUMNS} FROM refunds WHERE refund_id = $1"
                               + (" FOR UPDATE" if lock else ""), refund_id)


async def by_key(conn: asyncpg.Connection, key: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {REFUND_COLUMNS} FROM refunds WHERE idempotency_key = $1", key)


async def by_trace(conn: asyncpg.Connection, trace: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {REFUND_COLUMNS} FROM refunds WHERE trace_number = $1", trace)


async def of_account(conn: asyncpg.Connection, ban: str) -> list[asyncpg.Record]:
    return await conn.fetch(f"SELECT {REFUND_COLUMNS} FROM refunds WHERE billing_account_number = $1 "
                            "ORDER BY created_at DESC", ban)


async def pending_approval(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(f"SELECT {REFUND_COLUMNS} FROM refunds WHERE status = 'pending_approval' "
                            "ORDER BY created_at")


async def update(conn: asyncpg.Connection, refund_id: uuid.UUID, **values: Any) -> asyncpg.Record:
    sets = ", ".join(f"{k} = ${i + 2}" for i, k in enumerate(values))
    return await conn.fetchrow(
        f"UPDATE refunds SET {sets}, updated_at = now() WHERE refund_id = $1 RETURNING {REFUND_COLUMNS}",
        refund_id, *values.values())


async def approve(conn: asyncpg.Connection, refund_id: uuid.UUID, operator: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"""UPDATE refunds SET status = 'approved', approved_by = $2, approved_at = now(),
              updated_at = now() WHERE refund_id = $1 AND status = 'pending_approval'
            RETURNING {REFUND_COLUMNS}""", refund_id, operator)


# ------------------------------------------------------------------ the refund file
async def file_of_date(conn: asyncpg.Connection, day: date) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM refund_files WHERE business_date = $1", day)


async def open_file(conn: asyncpg.Connection, day: date, name: str) -> int:
    return await conn.fetchval(
        """INSERT INTO refund_files (business_date, file_name, sha256, entries, credit_cents)
           VALUES ($1, $2, '', 0, 0) RETURNING file_id""", day, name)


async def close_file(conn: asyncpg.Connection, file_id: int, sha: str, entries: int, cents: int) -> None:
    await conn.execute("UPDATE refund_files SET sha256 = $2, entries = $3, credit_cents = $4 "
                       "WHERE file_id = $1", file_id, sha, entries, cents)


async def assign_to_file(conn: asyncpg.Connection, file_id: int, day: date, effective: date,
                         odfi8: str) -> list[asyncpg.Record]:
    """Every approved ACH refund requested by `day` goes into the file, with a trace number
    from the debits' own sequence (a return file's trace then names one entry of either)."""
    return await conn.fetch(
        f"""UPDATE refunds SET status = 'issued', refund_file_id = $1, effective_date = $3,
              issued_on = $2, issued_at = now(),
              trace_number = $4 || lpad(nextval('ach_trace_seq')::text, 7, '0'), updated_at = now()
            WHERE status = 'approved' AND rail = 'ach' AND requested_on <= $2
            RETURNING {REFUND_COLUMNS}""", file_id, day, effective, odfi8)


_FILE_ENTRIES = """SELECT r.refund_id, r.trace_number, r.amount_cents, r.billing_account_number,
       r.method_id, x.type, x.holder_name, x.routing_number, x.account_ciphertext, x.key_id
FROM refunds r JOIN methods x USING (method_id)
WHERE r.refund_file_id = $1 ORDER BY r.trace_number"""


async def file_entries(conn: asyncpg.Connection, file_id: int) -> AsyncIterator[asyncpg.Record]:
    """The refund file's entries in trace order, read by a cursor (in the caller's
    transaction) so a large file never sits in memory."""
    async for row in conn.cursor(_FILE_ENTRIES, file_id, prefetch=5000):
        yield row


async def charge_of(conn: asyncpg.Connection, payment_id: uuid.UUID) -> str | None:
    """The processor's charge id of a card payment (what a card refund refunds)."""
    return await conn.fetchval("SELECT processor_charge_id FROM payments WHERE payment_id = $1", payment_id)


async def mark_card_issued(conn: asyncpg.Connection, refund_id: uuid.UUID, day: date,
                           processor_refund_id: str | None) -> asyncpg.Record:
    return await conn.fetchrow(
        f"""UPDATE refunds SET status = 'issued', issued_on = $2, effective_date = $2, issued_at = now(),
              processor_refund_id = $3, updated_at = now() WHERE refund_id = $1
            RETURNING {REFUND_COLUMNS}""", refund_id, day, processor_refund_id)


async def approved_card_refunds(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(f"SELECT {REFUND_COLUMNS} FROM refunds WHERE status = 'approved' AND rail = 'card' "
                            "ORDER BY created_at")


async def lock_refund_file(conn: asyncpg.Connection) -> None:
    """Held to the end of the transaction: one refund file run at a time."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", locks.PAYMENTS_REFUND_FILE)


async def drop_file(conn: asyncpg.Connection, file_id: int) -> None:
    await conn.execute("DELETE FROM refund_files WHERE file_id = $1", file_id)
