"""Re-encrypting sealed columns under the current key, online and resumable.

Every sealed column keeps the id of the key each row was sealed with. Rotating a key is:
1. add the new key to the service's settings and make it the current one, keeping the old
   key listed (new rows are sealed under the new key; old rows stay readable);
2. run `python -m services.<name>.cli rotate-keys`: it re-seals, in batches of its own
   transactions, every row whose key id is not the current one, printing its progress; a
   run that stops (or is stopped) is resumed by running it again, since it only looks for
   rows not yet under the current key;
3. once it reports nothing left, drop the old key from the settings.

Rows are locked batch by batch (`FOR UPDATE SKIP LOCKED`), so two runs share the work and
the service keeps reading and writing meanwhile: a row is either still under its old key
(readable, the old key is listed) or already under the new one.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class SealedColumn:
    """A table's sealed column, its key-id column and how to re-seal one row's value."""
    name: str                      # what progress lines call it
    table: str
    id_column: str
    blob_column: str
    key_column: str
    current_key_id: str
    reseal: Callable[[bytes, str, uuid.UUID], bytes]


async def remaining(pool: asyncpg.Pool, column: SealedColumn) -> int:
    count: int = await pool.fetchval(
        f"SELECT count(*) FROM {column.table} WHERE {column.blob_column} IS NOT NULL"
        f" AND {column.key_column} IS DISTINCT FROM $1", column.current_key_id)
    return count


async def rotate(pool: asyncpg.Pool, column: SealedColumn, *, batch: int = 500,
                 progress: Callable[[int, int], object] | None = None) -> int:
    """Re-seal every row of `column` not under the current key; returns how many it did.
    `progress(done, total)` is called after each committed batch."""
    total = await remaining(pool, column)
    done = 0
    select = (f"SELECT {column.id_column} AS id, {column.blob_column} AS blob, {column.key_column} AS key_id"
              f" FROM {column.table} WHERE {column.blob_column} IS NOT NULL"
              f" AND {column.key_column} IS DISTINCT FROM $1"
              f" ORDER BY {column.id_column} LIMIT $2 FOR UPDATE SKIP LOCKED")
    update = (f"UPDATE {column.table} SET {column.blob_column} = $2, {column.key_column} = $3"
              f" WHERE {column.id_column} = $1")
    while True:
        async with pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(select, column.current_key_id, batch)
            if not rows:
                return done
            await conn.executemany(update, [
                (r["id"], column.reseal(r["blob"], r["key_id"], r["id"]), column.current_key_id)
                for r in rows])
        done += len(rows)
        if progress is not None:
            progress(done, max(total, done))
