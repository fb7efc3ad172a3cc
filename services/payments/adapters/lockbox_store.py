"""SQL for checks and money orders received: lockbox files imported, items recorded once,
the ones held unapplied (migrations/0005_lockbox.sql)."""
from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import asyncpg


async def file_imported(conn: asyncpg.Connection, sha256: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM lockbox_files WHERE sha256 = $1", sha256)


async def claim_file(conn: asyncpg.Connection, sha256: str, file_name: str, day: date,
                     items: int, total_cents: int) -> bool:
    """True if this transaction now owns the file. Another import of the same file waits
    on the key until the first commits (then False: already imported) or rolls back."""
    got = await conn.fetchval(
        """INSERT INTO lockbox_files (sha256, file_name, business_date, items, total_cents,
                                      applied, unapplied, already)
           VALUES ($1, $2, $3, $4, $5, 0, 0, 0) ON CONFLICT (sha256) DO NOTHING RETURNING 1""",
        sha256, file_name, day, items, total_cents)
    return got is not None


async def count_file(conn: asyncpg.Connection, sha256: str, applied: int, unapplied: int,
                     already: int) -> None:
    await conn.execute("UPDATE lockbox_files SET applied = $2, unapplied = $3, already = $4 "
                       "WHERE sha256 = $1", sha256, applied, unapplied, already)


async def insert_item(conn: asyncpg.Connection, **f: Any) -> uuid.UUID | None:
    """Records an item (status `unapplied`, no payment yet); None when the item is already
    recorded under its key (the bank's batch and sequence on its deposit date, or a counter
    item's account, kind and number): a concurrent insert of the same key waits for the
    first to commit."""
    source = f["source"]
    target = ("(deposit_date, batch_id, item_sequence) WHERE source = 'lockbox'"
              if source == "lockbox" else
              "(billing_account_number, kind, check_number) WHERE source = 'counter'")
    cols = list(f)
    sql = (f"INSERT INTO lockbox_items (item_id, status, {', '.join(cols)}) VALUES "
           f"($1, 'unapplied', {', '.join(f'${i + 2}' for i in range(len(cols)))}) "
           f"ON CONFLICT {target} DO NOTHING RETURNING item_id")
    return await conn.fetchval(sql, uuid.uuid4(), *f.values())


async def mark_applied(conn: asyncpg.Connection, item_id: uuid.UUID, payment_id: uuid.UUID) -> None:
    await conn.execute("UPDATE lockbox_items SET status = 'applied', payment_id = $2, reason = NULL "
                       "WHERE item_id = $1", item_id, payment_id)


async def mark_unapplied(conn: asyncpg.Connection, item_id: uuid.UUID, reason: str) -> None:
    await conn.execute("UPDATE lockbox_items SET reason = $2 WHERE item_id = $1", item_id, reason)


async def unapplied(conn: asyncpg.Connection, limit: int = 1000) -> list[asyncpg.Record]:
    """Items held for an operator, oldest deposit first."""
    return await conn.fetch(
        """SELECT item_id, source, deposit_date, batch_id, item_sequence, billing_account_number,
                  amount_cents, kind, check_number, payer_name, reason, recorded_at
             FROM lockbox_items WHERE status = 'unapplied'
            ORDER BY deposit_date, recorded_at, batch_id, item_sequence LIMIT $1""", limit)


async def item_of_payment(conn: asyncpg.Connection, payment_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM lockbox_items WHERE payment_id = $1", payment_id)
