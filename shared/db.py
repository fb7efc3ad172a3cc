"""PostgreSQL plumbing: the connection pool, advisory locks and the ordered SQL migration
runner."""
from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from shared import locks

log = logging.getLogger(__name__)

BACKBONE_MIGRATIONS = Path(__file__).parent / "migrations"


async def _init_connection(conn: asyncpg.Connection) -> None:
    # jsonb columns come back as Python objects and go in from them, with orjson.
    await conn.set_type_codec("jsonb", schema="pg_catalog", format="text",
                              encoder=lambda v: orjson.dumps(v).decode(),
                              decoder=orjson.loads)


async def create_pool(dsn: str, min_size: int = 2, max_size: int = 10,
                      **kwargs: Any) -> asyncpg.Pool:
    """A pool whose connections speak jsonb as Python objects."""
    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size,
                                     init=_init_connection, **kwargs)
    assert pool is not None
    return pool


@contextlib.asynccontextmanager
async def advisory_lock(conn_or_pool: asyncpg.Connection | asyncpg.Pool, lock_id: int, *,
                        wait: bool = False) -> AsyncIterator[bool]:
    """Hold the session advisory lock `lock_id` (one of `shared.locks`) for the block.

    Yields whether this session got it: a try (`pg_try_advisory_lock`) by default, so a
    replica that finds it taken goes on at once; with `wait` it queues for it and always
    gets it. Given a pool, a connection is taken for as long as the lock is held. The lock
    is released on the way out, however the block ends; if the connection itself was lost
    the lock went with it.
    """
    async with contextlib.AsyncExitStack() as stack:
        if isinstance(conn_or_pool, asyncpg.Pool):
            conn = await stack.enter_async_context(conn_or_pool.acquire())
        else:
            conn = conn_or_pool
        if wait:
            await conn.execute("SELECT pg_advisory_lock($1)", lock_id)
            got = True
        else:
            got = bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", lock_id))
        try:
            yield got
        finally:
            if got and not conn.is_closed():
                await conn.execute("SELECT pg_advisory_unlock($1)", lock_id)


def _migration_files(directory: Path, prefix: str) -> list[tuple[str, Path]]:
    return [(f"{prefix}:{f.name}", f) for f in sorted(directory.glob("*.sql"))]


async def migrate(pool: asyncpg.Pool, service_migrations: Path | None) -> list[str]:
    """Apply the backbone's and the service's migrations not yet applied, in order.

    Each file runs in its own transaction and is recorded in `schema_migrations`; an
    advisory lock makes replicas that start at once apply each file exactly once.
    Returns the versions applied by this call.
    """
    files = _migration_files(BACKBONE_MIGRATIONS, "backbone")
    if service_migrations is not None:
        files += _migration_files(service_migrations, "service")
    applied_now: list[str] = []
    async with pool.acquire() as conn, advisory_lock(conn, locks.MIGRATIONS, wait=True):
        await conn.execute("""CREATE TABLE IF NOT EXISTS schema_migrations (
            version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())""")
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for version, path in files:
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(path.read_text())
                await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
            applied_now.append(version)
            log.info("migration applied", extra={"version": version})
    return applied_now


async def pending_migrations(pool: asyncpg.Pool, service_migrations: Path | None) -> list[str]:
    """Versions not yet applied (for /readyz)."""
    files = _migration_files(BACKBONE_MIGRATIONS, "backbone")
    if service_migrations is not None:
        files += _migration_files(service_migrations, "service")
    async with pool.acquire() as conn:
        exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
        done = set() if not exists else {
            r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
    return [v for v, _ in files if v not in done]
