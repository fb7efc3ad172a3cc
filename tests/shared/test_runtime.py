"""Migrations and the service runtime against real PostgreSQL and Kafka."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from shared.db import BACKBONE_MIGRATIONS, create_pool, migrate, pending_migrations
from shared.runtime import Service
from shared.settings import ServiceSettings
from tests.helpers import service_client


async def test_replicas_starting_together_apply_each_migration_once(fresh_db, tmp_path: Path):
    (tmp_path / "0001_a.sql").write_text("CREATE TABLE things (id int PRIMARY KEY);")
    (tmp_path / "0002_b.sql").write_text("INSERT INTO things VALUES (1);")
    pools = [await create_pool(fresh_db) for _ in range(3)]
    try:
        results = await asyncio.gather(*(migrate(p, tmp_path) for p in pools))
        applied = [v for r in results for v in r]
        assert sorted(applied) == sorted(set(applied)), "a migration ran twice"
        assert "service:0002_b.sql" in applied
        assert await pools[0].fetchval("SELECT count(*) FROM things") == 1
        assert await pending_migrations(pools[0], tmp_path) == []
        (tmp_path / "0003_c.sql").write_text("SELECT 1;")
        assert await pending_migrations(pools[0], tmp_path) == ["service:0003_c.sql"]
    finally:
        for p in pools:
            await p.close()


async def test_a_failing_migration_leaves_nothing_half_applied(fresh_db, tmp_path: Path):
    (tmp_path / "0001_bad.sql").write_text("CREATE TABLE t1 (id int); SELECT * FROM missing;")
    pool = await create_pool(fresh_db)
    try:
        try:
            await migrate(pool, tmp_path)
        except Exception:  # noqa: BLE001 - the failure is the point
            pass
        assert await pool.fetchval("SELECT to_regclass('t1')") is None
        assert await pending_migrations(pool, tmp_path) == ["service:0001_bad.sql"]
    finally:
        await pool.close()


async def test_service_reports_ready_and_serves_metrics(infra, fresh_db, tmp_path: Path):
    settings = ServiceSettings(database_url=fresh_db, KAFKA_BOOTSTRAP=infra.kafka_bootstrap)
    service = Service("probe", settings, tmp_path)
    await service.start(http=False)
    try:
        async with TestClient(TestServer(service.app)) as anyone:
            # Health and readiness answer anyone; everything else only a known caller.
            assert (await anyone.get("/healthz")).status == 200
            assert (await anyone.get("/readyz")).status == 200
            for path in ("/metrics", "/asyncapi.json", "/no-such-page"):
                refused = await anyone.get(path)
                assert refused.status == 401, path
                assert (await refused.json())["error"]["code"] == "invalid_service_token"
        async with service_client(service, caller="operator") as client:
            ready = await client.get("/readyz")
            assert ready.status == 200
            assert (await ready.json())["checks"] == {
                "started": True, "postgres": True, "migrations": True, "kafka": True,
                "consumers": True}
            assert (await client.get("/healthz")).status == 200
            metrics = await (await client.get("/metrics")).text()
            assert "outbox_published_total" in metrics
            missing = await client.get("/no-such-page")
            assert missing.status == 404
            assert (await missing.json())["error"]["code"] == "not_found"
            spec = await (await client.get("/asyncapi.json")).json()
            assert spec["info"]["title"] == "probe service events"
    finally:
        await service.stop()
    (tmp_path / "0009_new.sql").write_text("SELECT 1;")
    service = Service("probe", settings, None)
    service.migrations = tmp_path
    pool = await create_pool(fresh_db)
    service.pool = pool
    try:
        checks = await service.readiness()
        assert checks["migrations"] is False and checks["started"] is False
    finally:
        await pool.close()


async def test_an_outbox_from_before_delete_on_send_keeps_only_what_was_never_published(fresh_db):
    """Migration 0002 on a database migrated before it: rows the old relay had marked sent
    were published and go; a row not yet published stays for the relay."""
    pool = await create_pool(fresh_db)
    try:
        async with pool.acquire() as conn:
            await conn.execute("""CREATE TABLE schema_migrations (
                version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())""")
            await conn.execute((BACKBONE_MIGRATIONS / "0001_backbone.sql").read_text())
            await conn.execute("INSERT INTO schema_migrations VALUES ('backbone:0001_backbone.sql')")
            await conn.execute(
                """INSERT INTO outbox (event_id, topic, key, event_type, event_version, payload, sent_at)
                   SELECT gen_random_uuid(), 'billing.v1', 'k' || i, 'balance.changed', 1, '\\x7b7d',
                          CASE WHEN i <= 3 THEN now() END
                   FROM generate_series(1, 5) i""")
            await conn.execute("INSERT INTO processed_events (consumer_group, event_id) "
                               "VALUES ('billing.payments', gen_random_uuid())")
        applied = await migrate(pool, None)
        assert applied[:2] == ["backbone:0002_outbox_delete_on_send.sql",
                               "backbone:0003_processed_events_c_collation.sql"]
        assert [r["key"] for r in await pool.fetch("SELECT key FROM outbox ORDER BY id")] == ["k4", "k5"]
        assert not await pool.fetchval("SELECT count(*) FROM information_schema.columns "
                                       "WHERE table_name = 'outbox' AND column_name = 'sent_at'")
        assert await pool.fetchval("SELECT count(*) FROM processed_events") == 1
    finally:
        await pool.close()


async def test_a_stop_finishes_though_a_connection_is_never_given_back(infra, fresh_db, tmp_path: Path,
                                                                       monkeypatch, caplog):
    """asyncpg's pool.close() waits for every connection to come back; a stop must not."""
    import shared.runtime as runtime
    monkeypatch.setattr(runtime, "STOP_STEP_TIMEOUT_S", 5.0)
    settings = ServiceSettings(database_url=fresh_db, KAFKA_BOOTSTRAP=infra.kafka_bootstrap)
    service = Service("probe", settings, tmp_path)
    await service.start(http=False)
    await service.pool.acquire()  # a use case that never gives its connection back
    await asyncio.wait_for(service.stop(), 40)
    assert any(getattr(r, "step", None) == "database pool" for r in caplog.records)


def test_a_services_dependencies_are_read_only_once_provided(tmp_path: Path):
    settings = ServiceSettings(database_url="postgresql://127.0.0.1:1/none",
                               KAFKA_BOOTSTRAP="127.0.0.1:1")
    service: Service[dict[str, int]] = Service("probe", settings, tmp_path)
    assert service.deps_if_provided is None
    with pytest.raises(RuntimeError, match="before they were provided"):
        _ = service.deps
    deps = {"answer": 42}
    assert service.provide(deps) is deps
    assert service.deps is deps and service.deps_if_provided is deps
