"""Backbone throughput: raw aiokafka vs outbox -> relay -> Kafka -> idempotent consumer.

Runs on the bench servers (scripts/infra.py --profile bench), in databases and topics of
its own, and prints events/s for both paths and their ratio, measured in the same run.
In both paths the producing side and the consuming side are separate processes, as the
producing service and the consuming service are in the running system, and every process
(both paths alike) runs as services run (`shared.process`: uvloop, the collector's settings):

- raw: an idempotent aiokafka producer (acks=all, pipelined sends) and, in another
  process, an aiokafka consumer (getmany, commit per batch);
- backbone: N events already in the producing service's outbox (written in transactions,
  as services do; that write rate is printed too). The relay publishes them; in another
  process a FastStream batch subscriber feeds the idempotent consumer, which records each
  event id, validates its payload against the contract and applies a one-row effect per event (one statement per batch: the
  `batch_handler` shape of hot paths) in one transaction per batch, in a second database.

Each rate is N / (time of the last event's effect - time the producing side started).
Rounds interleave the two paths so both see the same machine load; medians are printed.
Each round also prints the CPU seconds its timed part cost, per process group (producing
process, consuming process, PostgreSQL per database, Kafka), read from /proc, and when the
relay had published the last event: where the time goes.

Usage: .venv/bin/python bench/backbone.py [--events 200000] [--rounds 3]
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
from aiokafka import AIOKafkaConsumer  # noqa: E402

from bench.cpu import CpuSampler, kafka_pids, postgres_pids  # noqa: E402
from scripts import infra  # noqa: E402
from shared import metrics, process  # noqa: E402
from shared.contracts.envelope import Envelope, Event  # noqa: E402
from shared.contracts.payments import Allocation, Contact, Method, PaymentSettledData  # noqa: E402
from shared.db import create_pool, migrate  # noqa: E402
from shared.kafka import ensure_topics  # noqa: E402
from shared.outbox import OutboxRelay, enqueue_many, make_producer  # noqa: E402

# A `payment.settled` as payments publishes it: the consumer validates every event's data
# against its contract (shared.contracts.registry) before its handler runs.
PAYLOAD = PaymentSettledData(
    payment_id="00000000-0000-0000-0000-000000000000", confirmation_number="PC-0000000000",
    billing_account_number="7000000000", amount_cents=12345,
    allocations=[Allocation(coverage_year=2027, amount_cents=12345)],
    method=Method(type="checking", last4="6789"), settled_on="2027-01-27",
    contact=Contact(email="member@example.org", phone=None, language="en"), kind="one_time")


def event(i: int) -> Envelope:
    return Envelope.of(PAYLOAD, key=f"70000{i % 5000:05d}")


# ------------------------------------------------------------------ consuming processes

async def _raw_consume(bootstrap: str, topic: str, n: int, ready, done) -> None:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"bench-{topic}",
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    while not consumer.assignment():
        await asyncio.sleep(0.02)
    process.settle()
    ready.set()
    seen = 0
    while seen < n:
        batch = await consumer.getmany(timeout_ms=500, max_records=5000)
        seen += sum(len(v) for v in batch.values())
        if batch:
            await consumer.commit()
    done.put(time.time())
    await consumer.stop()


async def _idempotent_consume(bootstrap: str, topic: str, dsn: str, n: int, ready, done) -> None:
    from faststream.kafka import KafkaBroker

    from shared.consumer import DeadLetters, IdempotentConsumer, subscribe

    group = f"bench-{topic}"
    pool = await create_pool(dsn, max_size=4)
    producer = make_producer(bootstrap, "bench-dlq")
    await producer.start()

    applied = 0

    async def apply_effects(conn, events: list[Event[PaymentSettledData]]) -> None:
        nonlocal applied
        # One row per event, written as the services' hot-path batch handlers write theirs
        # (notify's intake: one INSERT ... SELECT FROM unnest(arrays) per batch).
        await conn.execute(
            "INSERT INTO effects SELECT * FROM unnest($1::uuid[], $2::bigint[])",
            [e.event_id for e in events], [e.data.amount_cents for e in events])
        applied += len(events)  # counted before the commit: the effects are counted after

    broker = KafkaBroker(bootstrap, logger=None)
    consumer = IdempotentConsumer(pool, group, DeadLetters(producer, group),
                                  batch_handler=apply_effects, event_types=["payment.settled"])
    subscribe(broker, consumer, topic, max_records=5000)
    await broker.start()
    while not all(s.consumer and s.consumer.assignment() for s in broker.subscribers):
        await asyncio.sleep(0.02)
    process.settle()
    ready.set()
    # Done when all N effects are committed. The handler's counter says when to look, so
    # the database is not kept busy counting a growing table during the run.
    while applied < n or await pool.fetchval("SELECT count(*) FROM effects") < n:
        await asyncio.sleep(0.01)
    done.put(time.time())
    await broker.stop()
    await producer.stop()
    await pool.close()


def _consumer_main(kind: str, *args) -> None:
    process.prepare()
    coro = _raw_consume(*args) if kind == "raw" else _idempotent_consume(*args)
    asyncio.run(coro)


def start_consumer(kind: str, *args):
    ctx = mp.get_context("spawn")
    ready, done = ctx.Event(), ctx.Queue()
    proc = ctx.Process(target=_consumer_main, args=(kind, *args, ready, done), daemon=True)
    proc.start()
    if not ready.wait(60):
        proc.kill()
        raise RuntimeError(f"{kind} consumer did not start")
    return proc, done


# ------------------------------------------------------------------ rounds

async def raw_round(bootstrap: str, n: int) -> tuple[float, dict[str, float]]:
    topic = f"bench.raw.{uuid.uuid4().hex[:8]}"
    await ensure_topics(bootstrap, extra={topic: 6})
    value = event(0).to_bytes()
    proc, done = start_consumer("raw", bootstrap, topic, n)
    producer = make_producer(bootstrap, "bench-raw")
    await producer.start()
    cpu = _sampler(proc.pid)
    cpu.start()
    started = time.time()
    futures = []
    for i in range(n):
        futures.append(await producer.send(topic, value, key=f"70000{i % 5000:05d}".encode()))
        if len(futures) >= 5000:
            await asyncio.gather(*futures)
            futures.clear()
    await asyncio.gather(*futures)
    finished = await asyncio.to_thread(done.get, True, 600)
    used = cpu.stop()
    await producer.stop()
    proc.join(10)
    return n / (finished - started), used


async def _all_published(n: int) -> float:
    """When the relay's counter of published rows (this process's) reaches `n`."""
    start = metrics.OUTBOX_PUBLISHED._value.get()
    while metrics.OUTBOX_PUBLISHED._value.get() - start < n:
        await asyncio.sleep(0.005)
    return time.time()


def _sampler(consumer_pid: int, databases: tuple[str, str] | None = None) -> CpuSampler:
    state = infra.PROFILES["bench"].state
    groups = {"producing process": [os.getpid()], "consuming process": [consumer_pid]}
    if databases:
        groups["postgres outbox"] = lambda: postgres_pids(state, databases[0])
        groups["postgres consumer"] = lambda: postgres_pids(state, databases[1])
    groups["postgres other"] = lambda: postgres_pids(state, excluding=databases or ())
    groups["kafka"] = kafka_pids(state)
    return CpuSampler(groups)


def _cpu_line(used: dict[str, float]) -> str:
    return ", ".join(f"{name} {seconds:.2f}" for name, seconds in used.items()) + \
        f"; total {sum(used.values()):.2f} CPU-s"


async def backbone_round(bootstrap: str, admin_dsn: str, n: int
                         ) -> tuple[float, float, dict[str, float]]:
    topic = f"bench.backbone.{uuid.uuid4().hex[:8]}"
    await ensure_topics(bootstrap, extra={topic: 6, f"dlq.bench-{topic}": 1})
    dbs = [f"bench_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    admin = await asyncpg.connect(admin_dsn)
    for db in dbs:
        await admin.execute(f'CREATE DATABASE "{db}"')
    base = admin_dsn.rsplit("/", 1)[0]
    out_pool = await create_pool(f"{base}/{dbs[0]}", max_size=4)
    try:
        await migrate(out_pool, None)
        in_pool = await create_pool(f"{base}/{dbs[1]}", max_size=2)
        await migrate(in_pool, None)
        await in_pool.execute("CREATE TABLE effects (event_id uuid PRIMARY KEY, amount_cents bigint)")
        await in_pool.close()

        started = time.perf_counter()  # writing the outbox: transactions of 1,000 changes
        for start in range(0, n, 1000):
            async with out_pool.acquire() as conn, conn.transaction():
                await enqueue_many(conn, [event(start + i) for i in range(min(1000, n - start))],
                                   topic=topic)
        write_rate = n / (time.perf_counter() - started)

        proc, done = start_consumer("backbone", bootstrap, topic, f"{base}/{dbs[1]}", n)
        producer = make_producer(bootstrap, "bench-relay")
        await producer.start()
        relay = OutboxRelay(out_pool, producer, batch_size=5000)
        cpu = _sampler(proc.pid, (dbs[0], dbs[1]))
        cpu.start()
        started = time.time()
        relay_task = asyncio.create_task(relay.run())
        relayed = asyncio.create_task(_all_published(n))
        finished = await asyncio.to_thread(done.get, True, 600)
        used = cpu.stop()
        print(f"  backbone: the relay had published every event after "
              f"{await relayed - started:.2f} s, the consumer applied the last after "
              f"{finished - started:.2f} s", flush=True)
        relay.stop()
        await relay_task
        await producer.stop()
        proc.join(10)
        return n / (finished - started), write_rate, used
    finally:
        await out_pool.close()
        for db in dbs:
            await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        await admin.close()


async def main(events: int, rounds: int) -> None:
    profile = infra.PROFILES["bench"]
    process.settle()
    raw, backbone, writes = [], [], []
    for r in range(rounds):
        rate, raw_cpu = await raw_round(profile.bootstrap, events)
        raw.append(rate)
        rate, write, bb_cpu = await backbone_round(profile.bootstrap, profile.dsn("postgres"), events)
        backbone.append(rate)
        writes.append(write)
        print(f"round {r + 1}: raw {raw[-1]:,.0f} ev/s, backbone {backbone[-1]:,.0f} ev/s, "
              f"outbox writes {write:,.0f} rows/s", flush=True)
        print(f"  CPU-s, raw: {_cpu_line(raw_cpu)}", flush=True)
        print(f"  CPU-s, backbone: {_cpu_line(bb_cpu)}", flush=True)
    raw_m, bb_m = statistics.median(raw), statistics.median(backbone)
    print(f"\nevents per round: {events:,}; rounds: {rounds}")
    print(f"raw aiokafka produce -> consume (median): {raw_m:,.0f} events/s")
    print(f"outbox -> relay -> Kafka -> idempotent consumer (median): {bb_m:,.0f} events/s")
    print(f"outbox writes in transactions of 1,000 (median): {statistics.median(writes):,.0f} rows/s")
    print(f"ratio backbone/raw: {bb_m / raw_m:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="backbone throughput")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    infra.up("bench")
    process.prepare()
    asyncio.run(main(args.events, args.rounds))
