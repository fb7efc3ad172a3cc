"""Benchmark: a burst of poison events dead-lettered while good events keep flowing.

    .venv/bin/python bench/poison_burst.py [--poison 1000] [--good 500] [--rounds 3]

Against the bench servers (`scripts/infra.py up --profile bench`: Kafka 127.0.0.1:29092,
PostgreSQL 127.0.0.1:55434; `--kafka` and `--pg-admin-dsn` point elsewhere), each round in
a database and on a topic of its own. The consumer is the services' (shared/consumer.py)
with dead letters as they run in production: redacted onto `dlq.<group>`, the original
sealed into the `dead_letters` table. Each round publishes first, then starts the consumer,
and times from the consumer's start until every event is applied or dead-lettered:

- ceiling: the same number of events, all good (the consumer at its plain pace);
- burst: `--poison` poison events (a handler error their content causes) interleaved with
  `--good` good ones on many keys, so every batch mixes them.

It prints each round, the medians, the burst's ratio to the ceiling, and the verdict on
the goal: a burst of 1,000 poison events drained in under 10 s.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
from faststream.kafka import KafkaBroker  # noqa: E402

from scripts import infra  # noqa: E402
from shared import process  # noqa: E402
from shared.consumer import DeadLetters, IdempotentConsumer, subscribe  # noqa: E402
from shared.contracts.envelope import Envelope  # noqa: E402
from shared.contracts.topics import dlq_topic  # noqa: E402
from shared.db import create_pool, migrate  # noqa: E402
from shared.dead_letters import DeadLetterVault  # noqa: E402
from shared.kafka import ensure_topics  # noqa: E402
from shared.outbox import make_producer  # noqa: E402

BENCH_PROFILE = infra.PROFILES["bench"]  # its ports follow TEST_PORT_SHIFT

EVENT_TYPE = "bench.effect_wanted"  # outside the contracts: its data stays a dict for the handler
GOAL_S = 10.0


async def handler(conn, event: Envelope) -> None:
    if event.data.get("poison"):
        raise ValueError(f"account {event.key}: no such plan code")
    await conn.execute("INSERT INTO effects (event_id) VALUES ($1)", event.event_id)


async def one_round(args: argparse.Namespace, poison: int, good: int) -> float:
    name = f"bench_poison_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(args.pg_admin_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    dsn = args.pg_admin_dsn.rsplit("/", 1)[0] + f"/{name}"
    topic, group = f"bench.poison.{name}", f"bench.{name}"
    pool = await create_pool(dsn, 2, 10)
    try:
        await migrate(pool, None)
        await pool.execute("CREATE TABLE effects (event_id uuid PRIMARY KEY)")
        await ensure_topics(args.kafka, extra={topic: 6, dlq_topic(group): 1})
        bad = [Envelope(event_type=EVENT_TYPE, producer="bench", key=f"bad-{i}", data={"poison": True})
               for i in range(poison)]
        fine = [Envelope(event_type=EVENT_TYPE, producer="bench", key=f"good-{i}", data={})
                for i in range(good)]
        mixed, step = [], max(1, poison // max(1, good))
        while bad or fine:
            mixed += [bad.pop() for _ in range(min(step, len(bad)))]
            if fine:
                mixed.append(fine.pop())
        producer = make_producer(args.kafka, "bench-poison")
        await producer.start()
        try:
            await asyncio.gather(*(producer.send(topic, e.to_bytes(), key=e.key.encode())
                                   for e in mixed))
            await producer.flush()
            broker = KafkaBroker(args.kafka)
            vault = DeadLetterVault({"k1": "bench dead-letter key"}, "k1")
            consumer = IdempotentConsumer(pool, group, DeadLetters(producer, group, pool=pool, vault=vault),
                                          handlers={EVENT_TYPE: handler})
            subscribe(broker, consumer, topic, offset_reset="earliest")
            started = time.monotonic()
            await broker.start()
            try:
                while await pool.fetchval("SELECT count(*) FROM processed_events") < len(mixed):
                    if time.monotonic() - started > args.timeout_s:
                        raise TimeoutError(f"not drained in {args.timeout_s} s")
                    await asyncio.sleep(0.02)
                took = time.monotonic() - started
            finally:
                await broker.stop()
        finally:
            await producer.stop()
        assert await pool.fetchval("SELECT count(*) FROM effects") == good
        assert await pool.fetchval("SELECT count(*) FROM processed_events WHERE dead_lettered") == poison
        return took
    finally:
        await pool.close()
        admin = await asyncpg.connect(args.pg_admin_dsn)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def main(args: argparse.Namespace) -> None:
    total = args.poison + args.good
    ceilings, bursts = [], []
    for n in range(1, args.rounds + 1):
        ceiling = await one_round(args, 0, total)
        burst = await one_round(args, args.poison, args.good)
        ceilings.append(ceiling)
        bursts.append(burst)
        print(f"round {n}: {total} good events in {ceiling:.2f} s (ceiling); "
              f"{args.poison} poison + {args.good} good in {burst:.2f} s", flush=True)
    ceiling, burst = statistics.median(ceilings), statistics.median(bursts)
    print(f"median: ceiling {ceiling:.2f} s, burst {burst:.2f} s, "
          f"burst / ceiling {burst / ceiling:.1f}")
    verdict = "met" if burst < GOAL_S else "not met"
    print(f"goal: {args.poison} poison events dead-lettered in under {GOAL_S:.0f} s: {verdict} "
          f"(median {burst:.2f} s)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--poison", type=int, default=1000)
    parser.add_argument("--good", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--timeout-s", type=float, default=300.0)
    parser.add_argument("--kafka", default=os.environ.get("BENCH_KAFKA_BOOTSTRAP", BENCH_PROFILE.bootstrap))
    parser.add_argument("--pg-admin-dsn", default=os.environ.get(
        "BENCH_PG_ADMIN_DSN", BENCH_PROFILE.dsn("postgres")))
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("shared.consumer").setLevel(logging.CRITICAL)  # one line per dead letter
    logging.getLogger("faststream").setLevel(logging.WARNING)
    process.prepare()
    asyncio.run(main(parser.parse_args()))
