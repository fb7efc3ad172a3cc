"""Operator commands every service's CLI has: `python -m services.<name>.cli COMMAND`.

- `status`: what an operator checks first: the outbox's backlog and the age of its oldest
  row, each consumer group's lag per partition (committed offset against the end of the
  partition, read from Kafka), how many dead letters wait on each group's `dlq.<group>`
  topic, and the latest business date of each daily job. It changes nothing.
- `dead-letters list [--group G] [--all]`: the dead letters kept in the service's database
  (waiting ones; `--all` with those replayed), newest first: id, group, event type, origin
  and the (redacted) error.
- `dead-letters show ID`: one of them in full, redacted as on `dlq.<group>`.
- `dead-letters replay ID [ID ...]` or `--group G`: publish the originals back to their
  topics (shared/replay.py), so a poison event whose cause was fixed is applied, once.
- `rotate-keys [--batch N]`: re-seal every sealed column of the service under its current
  key (shared/key_rotation.py): dead letters' originals everywhere, SSNs in identity, bank
  account numbers in payments. Resumable; prints its progress.
- `service-keys add|promote|retire CALLER --file F`: the three steps of rotating a caller's
  service-token key in a SERVICE_KEYS file (docs/operations.md, "Service keys").
"""
from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import secrets
import sys
import uuid
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.contracts.topics import dlq_topic
from shared.db import create_pool
from shared.dead_letters import DeadLetterVault, original, redact_key, redact_record_value
from shared.kafka import PLAINTEXT, KafkaAuth
from shared.key_rotation import SealedColumn, remaining, rotate
from shared.replay import replay

COMMANDS = ("status", "dead-letters", "rotate-keys", "service-keys")


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


async def group_lag(bootstrap: str, groups: dict[str, tuple[str, ...]],
                    auth: KafkaAuth = PLAINTEXT) -> dict[str, Any]:
    """Per group: each partition's committed offset, end offset and lag; and the number of
    records on its dead-letter topic."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **auth.client_options())
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                              **auth.client_options())
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
    for group, info in (await group_lag(settings.kafka_bootstrap, groups, settings.kafka_auth())).items():
        lines.append(f"  group {group}: lag {info['lag']}, {info['dead_letters']} dead letter(s) on {dlq_topic(group)}")
        for p in info["partitions"]:
            lines.append(f"    {p['topic']}[{p['partition']}] committed {p['committed']} end {p['end']} lag {p['lag']}")
    return "\n".join(lines)


async def list_dead_letters(settings: Any, group: str | None, everything: bool) -> str:
    pool = await create_pool(settings.database_url, 1, 1)
    try:
        rows = await pool.fetch(
            """SELECT dead_letter_id, consumer_group, event_type, topic, partition, "offset",
                      error, created_at, replayed_at FROM dead_letters
               WHERE ($1::text IS NULL OR consumer_group = $1) AND ($2 OR replayed_at IS NULL)
               ORDER BY created_at DESC LIMIT 500""", group, everything)
    finally:
        await pool.close()
    lines = [f"{len(rows)} dead letter(s)" + ("" if everything else " waiting")]
    for r in rows:
        state = f"replayed {r['replayed_at']:%Y-%m-%d %H:%M:%S}" if r["replayed_at"] else "waiting"
        lines.append(f"{r['dead_letter_id']}  {r['consumer_group']}  {r['event_type'] or '-'}  "
                     f"{r['topic']}[{r['partition']}]@{r['offset']}  {r['created_at']:%Y-%m-%d %H:%M:%S}  "
                     f"{state}  {(r['error'] or '').splitlines()[0][:120] if r['error'] else ''}")
    return "\n".join(lines)


async def show_dead_letter(settings: Any, dead_letter_id: uuid.UUID) -> str | None:
    pool = await create_pool(settings.database_url, 1, 1)
    try:
        row = await pool.fetchrow("SELECT * FROM dead_letters WHERE dead_letter_id = $1", dead_letter_id)
        if row is None:
            return None
        vault = DeadLetterVault(settings.dead_letter_keys, settings.dead_letter_key_id)
        record = await original(pool, vault, dead_letter_id)
    finally:
        await pool.close()
    assert record is not None
    fields = {k: row[k] for k in ("dead_letter_id", "consumer_group", "event_id", "event_type",
                                  "topic", "partition", "offset", "attempts", "created_at",
                                  "replayed_at", "error")}
    lines = [f"{k}: {v}" for k, v in fields.items()]
    lines.append("key: " + (redact_key(record.key) or b"").decode(errors="replace"))
    lines.append("value (redacted): " + redact_record_value(record.value).decode(errors="replace"))
    return "\n".join(lines)


async def replay_dead_letters(settings: Any, ids: list[uuid.UUID], group: str | None) -> list[str]:
    if group is not None:
        pool = await create_pool(settings.database_url, 1, 1)
        try:
            ids = [r["dead_letter_id"] for r in await pool.fetch(
                """SELECT dead_letter_id FROM dead_letters WHERE consumer_group = $1
                   AND replayed_at IS NULL ORDER BY created_at""", group)]
        finally:
            await pool.close()
    done = []
    for n, dead_letter_id in enumerate(ids, 1):
        topic = await replay(settings, dead_letter_id)
        done.append(f"[{n}/{len(ids)}] {dead_letter_id} "
                    + (f"published back to {topic}" if topic else "not found"))
    return done


def sealed_columns(name: str, settings: Any) -> list[SealedColumn]:
    """The service's sealed columns, each with the cipher its settings give."""
    vault = DeadLetterVault(settings.dead_letter_keys, settings.dead_letter_key_id)
    columns = [SealedColumn("dead letters' originals", "dead_letters", "dead_letter_id", "sealed",
                            "key_id", vault.current_key_id, vault.reseal)]
    if name == "payments":
        from services.payments.adapters.crypto import AccountCipher
        cipher = AccountCipher(settings.account_key_id, settings.account_key, settings.account_old_keys)
        columns.append(SealedColumn("bank account numbers", "methods", "method_id",
                                    "account_ciphertext", "key_id", cipher.key_id, cipher.reseal))
    if name == "identity":
        from services.identity.adapters.crypto import SsnVault
        ssns = SsnVault(settings.ssn_hmac_key, settings.ssn_encryption_keys, settings.ssn_encryption_key_id)
        columns.append(SealedColumn("SSNs", "members", "member_id", "ssn_encrypted", "ssn_key_id",
                                    ssns.current_key_id, ssns.reseal))
    return columns


async def rotate_keys(name: str, settings: Any, batch: int) -> list[str]:
    lines: list[str] = []
    pool = await create_pool(settings.database_url, 1, 2)
    try:
        for column in sealed_columns(name, settings):
            if not await pool.fetchval("SELECT to_regclass($1) IS NOT NULL", column.table):
                continue
            def say(done: int, total: int, column: SealedColumn = column) -> None:
                print(f"{column.name}: {done}/{total} re-sealed under key {column.current_key_id}", flush=True)
            done = await rotate(pool, column, batch=batch, progress=say)
            left = await remaining(pool, column)
            lines.append(f"{column.name}: {done} re-sealed, {left} left under another key")
    finally:
        await pool.close()
    return lines


def service_keys_step(step: str, caller: str, path: Path) -> str:
    """One step of rotating a caller's key in a SERVICE_KEYS file (kept owner-only)."""
    keys: dict[str, dict[str, str]] = orjson.loads(path.read_bytes())
    current = keys.get(caller)
    if not current:
        raise SystemExit(f"{path} has no keys for caller {caller!r}")
    ids = list(current)
    if step == "add":
        new_id = "k" + uuid.uuid4().hex[:6]  # as shared.service_auth.generate_keys names keys
        current[new_id] = secrets.token_urlsafe(32)
        keys[caller] = current  # listed second: accepted everywhere, not yet signed with
        advice = f"added {new_id} for {caller}; restart every service, then run promote"
    elif step == "promote":
        if len(ids) < 2:
            raise SystemExit(f"{caller} has one key: add one first")
        newest = ids[-1]
        keys[caller] = {newest: current[newest], **{i: current[i] for i in ids[:-1]}}
        advice = f"{caller} now signs with {newest}; restart {caller}, wait a minute, then run retire"
    else:
        if len(ids) < 2:
            raise SystemExit(f"{caller} has one key: nothing to retire")
        keys[caller] = {ids[0]: current[ids[0]]}
        advice = f"retired {', '.join(ids[1:])} of {caller}; restart every service"
    fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(orjson.dumps(keys, option=orjson.OPT_INDENT_2))
    os.replace(path.with_suffix(".tmp"), path)
    return advice


def main(name: str, argv: list[str]) -> int:
    """Run an operator command for service `name` (its CLI hands over `argv` when the first
    word is one of `COMMANDS`)."""
    parser = argparse.ArgumentParser(prog=f"python -m services.{name}.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("status", help="outbox backlog, consumer lag, dead letters, last job dates")
    dead = sub.add_parser("dead-letters", help="list, show and replay dead letters")
    verbs = dead.add_subparsers(dest="verb", required=True)
    listing = verbs.add_parser("list", help="the dead letters waiting (newest first)")
    listing.add_argument("--group", help="only this consumer group's")
    listing.add_argument("--all", action="store_true", help="with those already replayed")
    showing = verbs.add_parser("show", help="one dead letter, redacted")
    showing.add_argument("dead_letter_id", type=uuid.UUID)
    replaying = verbs.add_parser("replay", help="publish originals back to their topics")
    which = replaying.add_mutually_exclusive_group(required=True)
    which.add_argument("dead_letter_ids", nargs="*", type=uuid.UUID, default=[])
    which.add_argument("--group", help="every waiting dead letter of this consumer group")
    rotating = sub.add_parser("rotate-keys", help="re-seal sealed columns under the current key")
    rotating.add_argument("--batch", type=int, default=500, help="rows per transaction")
    keys = sub.add_parser("service-keys", help="rotate a caller's service-token key in a file")
    keys.add_argument("step", choices=("add", "promote", "retire"))
    keys.add_argument("caller")
    keys.add_argument("--file", type=Path, required=True, help="the SERVICE_KEYS JSON file")
    args = parser.parse_args(argv)
    if args.command == "status":
        print(asyncio.run(status(name)))
        return 0
    if args.command == "service-keys":
        print(service_keys_step(args.step, args.caller, args.file))
        return 0
    settings, _ = _service(name)
    if args.command == "rotate-keys":
        print("\n".join(asyncio.run(rotate_keys(name, settings, args.batch))))
        return 0
    if args.verb == "list":
        print(asyncio.run(list_dead_letters(settings, args.group, args.all)))
    elif args.verb == "show":
        shown = asyncio.run(show_dead_letter(settings, args.dead_letter_id))
        if shown is None:
            print(f"no dead letter {args.dead_letter_id} in {name}'s database", file=sys.stderr)
            return 1
        print(shown)
    else:
        if not args.dead_letter_ids and not args.group:
            parser.error("name the dead letters to replay, or --group")
        lines = asyncio.run(replay_dead_letters(settings, args.dead_letter_ids, args.group))
        print("\n".join(lines) or "nothing to replay")
        if any(line.endswith("not found") for line in lines):
            return 1
    return 0


def handle(name: str) -> None:
    """In a service CLI's `__main__`: run and exit when the command is an operator command,
    else return so the CLI runs its own jobs."""
    if sys.argv[1:2] and sys.argv[1] in COMMANDS:
        sys.exit(main(name, sys.argv[1:]))
