"""One monthly invoice cycle for N billing accounts, events out through the outbox.

Seeds N accounts (one active health line each) with COPY into a fresh database on the
bench servers, runs `invoice_cycle` for one business date and prints invoices/s, elapsed
time and the process's peak memory, at several sizes in one run so memory can be seen to
stay flat as accounts grow. Each invoice writes an invoice row, a ledger entry and two
outbox events (`invoice.issued`, `balance.changed`). Optionally (--relay) the outbox is
then published to Kafka and timed.

Usage: .venv/bin/python bench/billing_cycle.py [--accounts 200000] [--steps 3] [--relay]
"""
from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
import uuid
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from scripts import infra  # noqa: E402
from services.billing.app import MIGRATIONS  # noqa: E402
from services.billing.domain.numbers import make_ban  # noqa: E402
from services.billing.service_layer import jobs  # noqa: E402
from shared.db import create_pool, migrate  # noqa: E402
from shared.outbox import OutboxRelay, make_producer  # noqa: E402

CYCLE_DATE = date(2027, 2, 5)  # bills March 2027, due 2027-02-23


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def seed(pool: asyncpg.Pool, start: int, count: int, chunk: int = 50_000) -> None:
    """COPY in chunks, so seeding does not inflate the peak memory the cycle is judged by."""
    for offset in range(0, count, chunk):
        await _seed_chunk(pool, start + offset, min(chunk, count - offset))


async def _seed_chunk(pool: asyncpg.Pool, start: int, count: int) -> None:
    accounts = [(make_ban(start + i), f"HH-B{start + i}", "health", (start + i) % 3 == 0)
                for i in range(count)]
    lines = [(a[0], 2027, f"E{start + i}", "Silver", "Carrier", 250_00 + (start + i) % 500,
              date(2027, 1, 1), "active") for i, a in enumerate(accounts)]
    async with pool.acquire() as conn:
        await conn.copy_records_to_table("accounts", records=accounts, columns=[
            "billing_account_number", "household_id", "plan_type", "aptc"])
        await conn.copy_records_to_table("lines", records=lines, columns=[
            "billing_account_number", "coverage_year", "enrollment_id", "plan_name", "carrier",
            "premium_cents", "coverage_start", "status"])


async def main(accounts: int, steps: int, relay: bool) -> None:
    profile = infra.PROFILES["bench"]
    name = f"bench_billing_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(profile.dsn("postgres"))
    await admin.execute(f'CREATE DATABASE "{name}"')
    pool = await create_pool(profile.dsn(name), 2, 4)
    try:
        await migrate(pool, MIGRATIONS)
        seeded = 0
        print("2 cores, shared by Kafka, PostgreSQL and the bench: figures move between runs.")
        print(f"{'accounts':>10} {'invoices':>10} {'outbox rows':>12} {'seconds':>8} {'invoices/s':>11} "
              f"{'peak RSS MB':>12}")
        for step in range(1, steps + 1):
            target = accounts * step // steps
            t = time.perf_counter()
            await seed(pool, seeded + 1, target - seeded)
            seed_s = time.perf_counter() - t
            seeded = target
            await pool.execute("ANALYZE")
            day = date(2027, 1 + step, 5)  # a new month each step: every account billed again
            t = time.perf_counter()
            summary = await jobs.invoice_cycle(pool, day)
            elapsed = time.perf_counter() - t
            rate = summary["invoices_issued"] / elapsed
            print(f"{seeded:>10,} {summary['invoices_issued']:>10,} {summary['events']:>12,} "
                  f"{elapsed:>8.1f} {rate:>11,.0f} "
                  f"{peak_rss_mb():>12.0f}   (seeded in {seed_s:.1f} s)", flush=True)
        again = time.perf_counter()
        repeat = await jobs.invoice_cycle(pool, day)
        print(f"second run for {day}: {repeat['invoices_issued']} invoices in "
              f"{time.perf_counter() - again:.1f} s (nothing to do)")
        outbox = await pool.fetchval("SELECT count(*) FROM outbox")
        print(f"outbox rows waiting for the relay: {outbox:,}")
        if relay:
            producer = make_producer(profile.bootstrap, "bench-billing-relay")
            await producer.start()
            r = OutboxRelay(pool, producer, batch_size=5000)
            t = time.perf_counter()
            task = asyncio.create_task(r.run())
            while await pool.fetchval("SELECT count(*) FROM outbox"):
                await asyncio.sleep(0.5)
            print(f"relay published {outbox:,} events in {time.perf_counter() - t:.1f} s "
                  f"({outbox / (time.perf_counter() - t):,.0f} events/s)")
            r.stop()
            await task
            await producer.stop()
    finally:
        await pool.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=200_000)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--relay", action="store_true")
    args = parser.parse_args()
    infra.up("bench")
    asyncio.run(main(args.accounts, args.steps, args.relay))
