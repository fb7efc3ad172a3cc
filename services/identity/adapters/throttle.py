"""Throttling counters in PostgreSQL (fixed windows), so the limit holds across replicas.

One statement counts an attempt against every subject it concerns (the client address, the
target ID) and returns each count; a subject over its limit answers 429 until its window
ends. A caller that counts only failures gives an attempt back (`refund`) once it knows the
attempt did not fail. Subjects are keyed hashes, never the raw ID.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import asyncpg


@dataclass(frozen=True)
class Rule:
    scope: str
    limit: int
    window_s: int


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after_s: int


def window_start(now: datetime, window_s: int) -> datetime:
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % window_s, timezone.utc)


def counters(now: datetime, checks: list[tuple[Rule, bytes]]) -> tuple[tuple[str, bytes, datetime], ...]:
    """(scope, subject, window start) of each check of one attempt, for a statement that
    counts the attempt itself (as the lookup does)."""
    return tuple((r.scope, s, window_start(now, r.window_s)) for r, s in checks)


def verdict(now: datetime, checks: list[tuple[Rule, bytes]], hits: dict[str, int]) -> Verdict:
    """Allowed while every subject's count is within its rule's limit."""
    retry = 0
    for rule, _ in checks:
        if hits[rule.scope] > rule.limit:
            end = window_start(now, rule.window_s) + timedelta(seconds=rule.window_s)
            retry = max(retry, max(1, int((end - now).total_seconds() + 0.999)))
    return Verdict(retry == 0, retry)


async def hit(conn: asyncpg.Connection, now: datetime, checks: list[tuple[Rule, bytes]]) -> Verdict:
    """Count one attempt against every (rule, subject); allowed while each is within limit.

    Rows are locked in the order given (address first), which every caller keeps, so two
    attempts cannot deadlock.
    """
    scopes, subjects, starts = (list(column) for column in zip(*counters(now, checks)))
    rows = await conn.fetch(
        """INSERT INTO throttle_counters AS t (scope, subject, window_start, hits)
           SELECT scope, subject, ws, 1
           FROM unnest($1::text[], $2::bytea[], $3::timestamptz[]) WITH ORDINALITY AS u(scope, subject, ws, n)
           ORDER BY n
           ON CONFLICT (scope, subject, window_start) DO UPDATE SET hits = t.hits + 1
           RETURNING scope, hits""", scopes, subjects, starts)
    return verdict(now, checks, {r["scope"]: r["hits"] for r in rows})


async def refund(pool: asyncpg.Pool, counters: tuple[tuple[str, bytes, datetime], ...]) -> None:
    """Give back one counted attempt on each counter (scope, subject, window start)."""
    async with pool.acquire() as conn:
        await refund_many(conn, [counters])


async def refund_many(conn: asyncpg.Connection,
                      attempts: list[tuple[tuple[str, bytes, datetime], ...]]) -> list[None]:
    """Give back each attempt's counted hit on each of its counters, for many attempts in one
    statement (a counter given back twice loses two hits, never going below zero).

    Rows are locked in the order `lookup_candidates` counts them (sorted), so a refund and
    a count cannot deadlock."""
    given = Counter(counter for counters in attempts for counter in counters)
    if given:
        order = sorted(given)
        await conn.execute(
            """WITH given AS (
                   SELECT t.scope, t.subject, t.window_start, u.n FROM throttle_counters t
                   JOIN unnest($1::text[], $2::bytea[], $3::timestamptz[], $4::int[])
                        AS u(scope, subject, ws, n)
                     ON t.scope = u.scope AND t.subject = u.subject AND t.window_start = u.ws
                   ORDER BY t.scope COLLATE "C", t.subject, t.window_start
                   FOR UPDATE OF t)
               UPDATE throttle_counters t SET hits = GREATEST(t.hits - g.n, 0) FROM given g
               WHERE t.scope = g.scope AND t.subject = g.subject
                 AND t.window_start = g.window_start""",
            [c[0] for c in order], [c[1] for c in order], [c[2] for c in order],
            [given[c] for c in order])
    return [None] * len(attempts)


async def purge(pool: asyncpg.Pool, older_than: datetime) -> int:
    result = await pool.execute("DELETE FROM throttle_counters WHERE window_start < $1", older_than)
    return int(result.split()[-1])
