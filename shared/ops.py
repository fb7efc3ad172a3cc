"""Operator commands every service's CLI has: `python -m services.<name>.cli status`.

`status` prints, for one service, what an operator checks first: the outbox's backlog and
the age of its oldest row, each of its consumer groups' lag per partition (committed offset
against the end of the partition, read from Kafka), how many dead letters wait on each
group's `dlq.<group>` topic, and the latest business date of each daily job. It reads; it
changes nothing.
"""
from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.contracts.topics import dlq_topic
from shared.db import create_pool

COMMANDS = ("status",)


def _service(name: str) -> tuple[Any, Any]:
    """The service's settings and its (not started) Service, which knows its groups."""
    settings = importlib.import_module(f"services.{name}.config").Settings()
    app = importlib.import_module(f"services.{name}.app")
    service = app.build_service(settings) if hasattr(app, "build_service") else None
    return settings, service


async def outbox_status(dsn: str) -> dict[str, Any]:
    pool = await create_pool(dsn, 1, 1)
    try:
        row = await pool.fetchrow(
            "SELECT count(*) AS backlog, extract(epoch FROM now() - min(created_at)) AS age FROM outbox")
        jobs = []
        if await pool.fetchval("SELECT to_regclass('job_runs') IS NOT NULL"):
            jobs = [dict(r) for r in await pool.fetch(
                "SELECT job, max(business_date) AS last_business_date FROM job_runs GROUP BY job ORDER BY job")]
    finally:
        await pool.close()
    return {"backlog": row["backlog"], "oldest_age_s": float(row["age"] or 0), "jobs": jobs}


async def group_lag(bootstrap: str, groups: dict[str, tuple[str, ...]]) -> dict[str, Any]:
    """Per group: each partition's committed offset, end offset and lag; and the number of
    records on its dead-letter topic."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await admin.start()
    await reader.start()
    out: dict[str, Any] = {}
    try:
        names = sorted({t for topics in groups.values() for t in topics} | {dlq_topic(g) for g in groups})
        partitions = {d["topic"]: sorted(p["partition"] for p in d["partitions"])
                      for d in await admin.describe_topics(names) if d["error_code"] == 0} if names else {}
        for group, topics in groups.items():
            committed = await admin.list_consumer_group_offsets(group)
            parts = [TopicPartition(t, p) for t in topics for p in partitions.get(t, ())]
            ends = await reader.end_offsets(parts) if parts else {}
            rows = []
            for tp in parts:
                meta = committed.get(tp)
                done = meta.offset if meta is not None and meta.offset >= 0 else None
                rows.append({"topic": tp.topic, "partition": tp.partition, "committed": done,
                             "end": ends[tp], "lag": ends[tp] - (done or 0)})
            dlq = dlq_topic(group)
            dlq_parts = [TopicPartition(dlq, p) for p in partitions.get(dlq, ())]
            dead = 0
            if dlq_parts:
                first = await reader.beginning_offsets(dlq_parts)
                last = await reader.end_offsets(dlq_parts)
                dead = sum(last[tp] - first[tp] for tp in dlq_parts)
            out[group] = {"partitions": rows, "lag": sum(r["lag"] for r in rows), "dead_letters": dead}
    finally:
        await reader.stop()
        await admin.close()
    return out


async def status(name: str) -> str:
    settings, service = _service(name)
    lines = [f"{name}: status"]
    box = await outbox_status(settings.database_url)
    lines.append(f"  outbox: {box['backlog']} event(s) not yet published"
                 + (f", oldest {box['oldest_age_s']:.1f} s old" if box["backlog"] else ""))
    for job in box["jobs"]:
        lines.append(f"  job {job['job']}: last business date {job['last_business_date']}")
    groups = {spec.group_id: spec.topics for spec in (service.consumers if service else [])}
    for group, info in (await group_lag(settings.kafka_bootstrap, groups)).items():
        lines.append(f"  group {group}: lag {info['lag']}, {info['dead_letters']} dead letter(s) on {dlq_topic(group)}")
        for p in info["partitions"]:
            lines.append(f"    {p['topic']}[{p['partition']}] committed {p['committed']} end {p['end']} lag {p['lag']}")
    return "\n".join(lines)


def main(name: str, argv: list[str]) -> int:
    """Run an operator command for service `name` (its CLI hands over `argv` when the first
    word is one of `COMMANDS`)."""
    parser = argparse.ArgumentParser(prog=f"python -m services.{name}.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("status", help="outbox backlog, consumer lag, dead letters, last job dates")
    args = parser.parse_args(argv)
    if args.command == "status":
        print(asyncio.run(status(name)))
    return 0


def handle(name: str) -> None:
    """In a service CLI's `__main__`: run and exit when the command is an operator command,
    else return so the CLI runs its own jobs."""
    if sys.argv[1:2] and sys.argv[1] in COMMANDS:
        sys.exit(main(name, sys.argv[1:]))
