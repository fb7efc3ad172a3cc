"""PostgreSQL plumbing: the connection pool and the ordered SQL migration runner."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import asyncpg
import orjson

log = logging.getLogger(__name__)

BACKBONE_MIGRATIONS = Path(__file__).parent / "migrations"
# One advisory lock id for "migrating this database": replicas starting together wait on it.
MIGRATION_LOCK_ID = 7_100_001


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
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_ID)
        try:
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
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_ID)
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
