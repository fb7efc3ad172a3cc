"""The chaos run's audit, from outside the services: the clients' own record, each
service's database, the topics, the NACHA files, the mail catcher's stored messages, the
consumer groups' offsets and billing's `reconcile`. Nothing here asks a service how it did.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from scripts.stack import DATABASES
from shared.ops import group_lag


async def one(dsn: str, sql: str, *args) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(sql, *args) or 0)
    finally:
        await conn.close()


async def has_table(dsn: str, table: str) -> bool:
    return bool(await one(dsn, "SELECT count(*) FROM pg_tables WHERE tablename = $1", table))


async def all_lag(bootstrap: str) -> int:
    """The summed lag of every consumer group on the cluster (shared/ops.py group_lag)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        groups = [g[0] for g in await admin.list_consumer_groups()]
        topics = {}
        for g in groups:
            offsets = await admin.list_consumer_group_offsets(g)
            topics[g] = tuple(sorted({tp.topic for tp in offsets}))
    finally:
        await admin.close()
    lag = await group_lag(bootstrap, {g: t for g, t in topics.items() if t})
    return sum(g["lag"] for g in lag.values())


async def backlog(bootstrap: str, dsn_of) -> tuple[int, int]:
    """(outbox rows left in every service's database, lag of every consumer group)."""
    outbox = 0
    for db in DATABASES:
        if await has_table(dsn_of(db), "outbox"):
            outbox += await one(dsn_of(db), "SELECT count(*) FROM outbox")
    return outbox, await all_lag(bootstrap)


async def payment_events(bootstrap: str) -> dict[str, tuple[int, int]]:
    """Per event type on payments.v1: (records, distinct event ids)."""
    reader = AIOKafkaConsumer("payments.v1", bootstrap_servers=bootstrap,
                              auto_offset_reset="earliest", enable_auto_commit=False, group_id=None)
    await reader.start()
    records: dict[str, int] = {}
    ids: dict[str, set] = {}
    try:
        while True:
            batch = await reader.getmany(timeout_ms=3000)
            if not batch:
                break
            for msgs in batch.values():
                for m in msgs:
                    h = dict(m.headers or ())
                    kind = (h.get("event_type") or b"").decode()
                    records[kind] = records.get(kind, 0) + 1
                    ids.setdefault(kind, set()).add(h.get("event_id"))
    finally:
        await reader.stop()
    return {k: (records[k], len(ids[k])) for k in records}


def ach_files(state: Path) -> tuple[int, int, int]:
    """(whole outbound files, entry-detail records in them, `.part` files left over)."""
    out = state / "ach" / "outbound"
    whole = [f for f in out.glob("*") if f.is_file() and not f.name.endswith(".part")]
    entries = sum(1 for f in whole for line in f.read_text(errors="replace").splitlines()
                  if line.startswith("6"))
    return len(whole), entries, len(list(out.glob("*.part")))


def mail(people: set[str], state: Path) -> tuple[int, set[str], int]:
    """From the mail catcher's stored copies (its API does not show the Message-ID header):
    (messages to `people`, their distinct Message-IDs, repeats)."""
    messages = [json.loads(f.read_bytes()) for f in (state / "sandbox" / "mail").glob("*.json")]
    mine = [m for m in messages if set(m["to"]) & people]
    ids = {m["message_id"] for m in mine}
    return len(mine), ids, len(mine) - len(ids)


async def dead_letters(dsn_of) -> list[str]:
    out = []
    for db in DATABASES:
        if await has_table(dsn_of(db), "dead_letters"):
            conn = await asyncpg.connect(dsn_of(db))
            try:
                for r in await conn.fetch("SELECT * FROM dead_letters"):
                    row = dict(r)
                    out.append(f"{db}: {row.get('consumer_group')} {row.get('topic')} "
                               f"{row.get('event_type', '')} {row.get('error', '')}")
            finally:
                await conn.close()
    return out


@dataclass
class Row:
    label: str
    value: object
    expected: object = None  # None: shown, not compared

    @property
    def ok(self) -> bool:
        return self.expected is None or self.value == self.expected


def print_table(rows: list[Row]) -> None:
    width = max(len(r.label) for r in rows)
    for r in rows:
        mark = "" if r.expected is None else ("" if r.ok else f"   <- expected {r.expected}")
        print(f"  {r.label:<{width}}  {r.value}{mark}")
