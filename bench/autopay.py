"""Benchmark: an autopay run end to end, for what the payments service owns.

    .venv/bin/python bench/autopay.py [--mandates 100000] [--timeout-s 1200]

Against the bench servers (`scripts/infra.py up --profile bench`: Kafka 127.0.0.1:29092,
PostgreSQL 127.0.0.1:55434, both moved by TEST_PORT_SHIFT), in a database created for the run and dropped at the end.
N mandates are seeded (accounts with a balance in the billing projection, encrypted bank
accounts; not timed), then, timed stage by stage in this run:
  1. autopay: the draft day's run drafts every mandate (payments + payment.submitted in the
     outbox, batches of 5,000, one transaction each);
  2. ach-cutoff: the NACHA file of every pending debit (account numbers decrypted, streamed);
  3. bank: the bank sandbox validates the file (record lengths, controls, entry hash,
     routing check digits); the other side's work, shown for scale;
  4. settle: on the effective date every payment is settled (payment.settled in the outbox);
  5. relay: the outbox relay publishes both events of every payment to Kafka (payments.v1);
     it runs in its own process from the start, as in the service; its drain is timed to
     the last event confirmed by Kafka.
Also measured in the same run: the raw aiokafka produce rate (acks=all, idempotent,
linger 5 ms, pipelined) of messages the size of our events, for the ratio. Billing applying
the payments is another service's work and is not measured here.
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
from aiokafka import AIOKafkaProducer  # noqa: E402
from aiokafka.admin import AIOKafkaAdminClient  # noqa: E402

from sandboxes.bank import validate  # noqa: E402
from scripts import infra  # noqa: E402
from services.payments.app import MIGRATIONS  # noqa: E402
from services.payments.config import Settings  # noqa: E402
from services.payments.service_layer import ach, autopay  # noqa: E402
from services.payments.service_layer.deps import build_deps  # noqa: E402
from shared.db import create_pool, migrate  # noqa: E402
from shared.kafka import ensure_topics  # noqa: E402
from shared.outbox import OutboxRelay, make_producer  # noqa: E402

BENCH_PROFILE = infra.PROFILES["bench"]  # its ports follow TEST_PORT_SHIFT

KAFKA = os.environ.get("BENCH_KAFKA", BENCH_PROFILE.bootstrap)
PG_ADMIN = os.environ.get("BENCH_PG_ADMIN_DSN", BENCH_PROFILE.dsn("postgres"))
DRAFT_DAY = date(2026, 4, 22)
SETTLE_DAY = date(2026, 4, 23)


def dsn(name: str) -> str:
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


async def seed(pool: asyncpg.Pool, cipher, n: int) -> None:
    chunk = 50_000
    for start in range(0, n, chunk):
        owed, methods, mandates = [], [], []
        for i in range(start, min(n, start + chunk)):
            ban = f"7{i:09d}"
            method_id, mandate_id = uuid.uuid4(), uuid.uuid4()
            account = f"{i:010d}00"  # ends in 00: the bank sandbox pays it
            blob, kid = cipher.encrypt(account, method_id)
            owed.append((ban, "health", 30000 + i % 5000))
            methods.append((method_id, ban, "checking", "Bench Member", "011000015", blob, kid,
                            account[-4:], uuid.uuid4().hex))
            mandates.append((mandate_id, ban, "health", method_id,
                             {"email": f"m{i}@example.org", "phone": None, "language": "en"},
                             "bench authorization", account[-4:]))
        async with pool.acquire() as conn, conn.transaction():
            await conn.copy_records_to_table(
                "owed_accounts", records=owed,
                columns=["billing_account_number", "plan_type", "total_balance_cents"])
            await conn.copy_records_to_table(
                "methods", records=methods,
                columns=["method_id", "billing_account_number", "type", "holder_name",
                         "routing_number", "account_ciphertext", "key_id", "last4", "fingerprint"])
            await conn.executemany(
                """INSERT INTO mandates (mandate_id, billing_account_number, plan_type, method_id,
                   contact, authorization_text, authorized_at, authorized_method_last4)
                   VALUES ($1, $2, $3, $4, $5, $6, now(), $7)""", mandates)
        print(f"  seeded {min(n, start + chunk)}/{n}", flush=True)
    async with pool.acquire() as conn:
        await conn.execute(
            """UPDATE owed_accounts SET lines = jsonb_build_array(jsonb_build_object(
                 'coverage_year', 2026, 'balance_cents', total_balance_cents,
                 'current_premium_cents', 30000, 'due_date', '2026-04-23'))""")
        await conn.execute("VACUUM ANALYZE")


class CountingRelay(OutboxRelay):
    """The service's relay, counting what it publishes: events, payload bytes, the time it
    handed the first to the producer and the time Kafka confirmed the last."""
    events = payload_bytes = 0
    first_sent = last_confirmed = 0.0

    async def _send(self, rows):  # noqa: ANN001, ANN202 - measured, then the real step
        self.first_sent = self.first_sent or time.time()
        self.events += len(rows)
        self.payload_bytes += sum(len(r["payload"]) for r in rows)
        return await super()._send(rows)

    async def _confirmed(self, futures):  # noqa: ANN001, ANN202
        await super()._confirmed(futures)
        self.last_confirmed = time.time()


def relay_process(database: str, stop, report) -> None:
    """The outbox relay in its own process, as it runs inside the service; at the end it
    puts what it published on `report`."""
    async def main() -> None:
        pool = await create_pool(dsn(database), 2, 6)
        producer = make_producer(KAFKA, "bench-autopay-relay")
        await producer.start()
        relay = CountingRelay(pool, producer, batch_size=5000, max_inflight=4)
        task = asyncio.create_task(relay.run())
        while not stop.is_set():
            await asyncio.sleep(0.1)
        relay.stop()
        await task
        await producer.stop()
        await pool.close()
        report.put({"events": relay.events, "bytes": relay.payload_bytes,
                    "first_sent": relay.first_sent, "last_confirmed": relay.last_confirmed})
    asyncio.run(main())


async def raw_produce_rate(count: int, size: int) -> float:
    topic = f"bench.autopay.raw.{uuid.uuid4().hex[:8]}"
    await ensure_topics(KAFKA, extra={topic: 6})
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, acks="all", enable_idempotence=True,
                                linger_ms=5, max_batch_size=256 * 1024)
    await producer.start()
    payload = b"x" * size
    try:
        started = time.perf_counter()
        futures = []
        for i in range(count):
            futures.append(await producer.send(topic, payload, key=f"7{i:09d}".encode()))
        await asyncio.gather(*futures)
        return count / (time.perf_counter() - started)
    finally:
        await producer.stop()
        admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
        await admin.start()
        try:
            await admin.delete_topics([topic])
        finally:
            await admin.close()


async def run(n: int, timeout_s: float) -> None:
    database = f"bench_autopay_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'CREATE DATABASE "{database}"')
    await admin.close()
    workdir = Path(tempfile.mkdtemp(prefix="bench-autopay-"))
    stop = multiprocessing.get_context("spawn").Event()
    relay = None
    pool = None
    try:
        settings = Settings(database_url=dsn(database), kafka_bootstrap=KAFKA,
                            ach_outbound_dir=workdir / "out", ach_returns_dir=workdir / "ret",
                            run_scheduler=False)
        pool = await create_pool(settings.database_url, 2, 6)
        await migrate(pool, MIGRATIONS)
        await ensure_topics(KAFKA)
        deps = build_deps(pool, settings)
        print(f"seeding {n:,} mandates (not timed)...", flush=True)
        await seed(pool, deps.cipher, n)
        ctx = multiprocessing.get_context("spawn")
        report = ctx.Queue()
        relay = ctx.Process(target=relay_process, args=(database, stop, report), daemon=True)
        relay.start()
        deadline = time.monotonic() + timeout_s
        stages: dict[str, float] = {}
        t0 = time.perf_counter()

        t = time.perf_counter()
        result = await autopay.run_autopay(deps, DRAFT_DAY, lambda m: None)
        stages["autopay (drafted + payment.submitted)"] = time.perf_counter() - t
        assert result["drafted"] == n, result
        print(f"  autopay: {result['drafted']:,} drafted", flush=True)

        t = time.perf_counter()
        cut = await ach.run_cutoff(deps, DRAFT_DAY, lambda m: None)
        stages["ach-cutoff (NACHA file)"] = time.perf_counter() - t
        assert cut["entries"] == n, cut
        print(f"  cutoff: {cut['entries']:,} entries, {Path(cut['path']).stat().st_size / 1e6:.0f} MB", flush=True)

        t = time.perf_counter()
        parsed = await asyncio.to_thread(lambda: validate(Path(cut["path"]).read_text()))
        bank_s = time.perf_counter() - t
        assert parsed.debit_cents == cut["debit_cents"]

        t = time.perf_counter()
        settled = await ach.run_settlement(deps, SETTLE_DAY, lambda m: None)
        stages["settle (payment.settled)"] = time.perf_counter() - t
        assert settled["settled"] == n, settled
        work_done = time.perf_counter()

        while await pool.fetchval("SELECT count(*) FROM outbox"):  # rows not yet on Kafka
            if time.monotonic() > deadline:
                raise SystemExit("timed out waiting for the outbox to drain")
            await asyncio.sleep(0.2)
        t_end = time.perf_counter()
        stop.set()
        published = await asyncio.to_thread(report.get, True, 60)
        relay.join(30)
        events = published["events"]
        relay_s = (published["last_confirmed"] - published["first_sent"]) or 1e-9
        size = published["bytes"] // max(events, 1)

        raw_count = min(max(n * 2, 50_000), 400_000)
        raw_rate = await raw_produce_rate(raw_count, size)
        total = t_end - t0
        print()
        print(f"autopay benchmark: {n:,} mandates, {os.cpu_count()} cores shared by Kafka, "
              "PostgreSQL, the bench and the relay")
        for name, secs in stages.items():
            print(f"  {name:<42} {secs:8.1f} s   {n / secs:10,.0f} payments/s")
        print(f"  {'bank sandbox validation (other side)':<42} {bank_s:8.1f} s   {n / bank_s:10,.0f} entries/s")
        print(f"  {'outbox drain after the last stage':<42} {t_end - work_done:8.1f} s")
        print(f"  relay: {events:,} events ({size} bytes avg) published in {relay_s:.1f} s "
              f"= {events / relay_s:,.0f} events/s (concurrent with the stages)")
        print(f"  END TO END (draft -> file -> settled -> all events on Kafka): {total:.1f} s = "
              f"{n / total:,.0f} payments/s  (goal >= 1,700/s; 1,000,000 in < 600 s)")
        print(f"  raw aiokafka produce, same run, {raw_count:,} x {size} bytes: {raw_rate:,.0f} msgs/s")
        print(f"  ratio: relay {events / relay_s / raw_rate:.2f} of raw produce; end-to-end events "
              f"{2 * n / total / raw_rate:.2f} of raw produce (2 events per payment)")
    finally:
        stop.set()
        if relay is not None and relay.is_alive():
            relay.join(10)
            if relay.is_alive():
                relay.terminate()
        if pool is not None:
            await pool.close()
        shutil.rmtree(workdir, ignore_errors=True)
        admin = await asyncpg.connect(PG_ADMIN)
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mandates", type=int, default=100_000)
    parser.add_argument("--timeout-s", type=float, default=1200)
    args = parser.parse_args()
    asyncio.run(run(args.mandates, args.timeout_s))


if __name__ == "__main__":
    main()
