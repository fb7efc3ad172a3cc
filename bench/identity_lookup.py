"""Member lookup throughput and latency at the identity service's HTTP endpoint.

Seeds N members (each with a Health and a Dental enrollment and billing account) into a
database of its own on the bench PostgreSQL (COPY), starts the identity service as its own
process(es) (`python -m services.identity`, consumers off), and drives `POST /lookups` with
an aiohttp client at a fixed concurrency for a bounded time: a mix of the three ID types and
both plan types, each from a different client address (as the gateway forwards them, with
the gateway's service token: keys of the run's own), all expected to answer 200. Each round also measures `GET /healthz` on the same processes with
the same client: the ceiling of this HTTP stack on this machine, so the ratio shows what the
lookup itself costs. The client, the service and PostgreSQL share the machine's 2 cores.

A closed loop (32 clients back to back) measures the most lookups/s; its latency is mostly
queueing at saturation. An open loop at a fixed offered rate (`--rate`, 2,000/s: the goal's
rate) then reads the latency at that rate; the goal is both (>= 2,000 lookups/s at most,
p99 < 20 ms at 2,000/s offered). p99 "in the service" comes from the service's own request
histogram (Prometheus buckets, interpolated); client-side figures include the client's
own queueing on the shared cores.

Usage: .venv/bin/python bench/identity_lookup.py [--members 100000] [--duration 10]
       [--rounds 3] [--concurrency 32] [--replicas 1] [--rate 2000] [--keep-database NAME]
       (--members 1000000: the full size; --keep-database seeds once and reuses it)
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402
import orjson  # noqa: E402

from scripts import infra  # noqa: E402
from services.identity.app import MIGRATIONS  # noqa: E402
from services.identity.config import Settings  # noqa: E402
from services.identity.domain.values import normalize_name  # noqa: E402
from services.identity.service_layer.deps import Deps  # noqa: E402
from shared.db import create_pool, migrate  # noqa: E402
from shared.numbers import make_ban  # noqa: E402
from shared.service_auth import TokenSigner, generate_keys  # noqa: E402

FIRST = ["Maria", "James", "Ana", "John", "Linh", "Fatima", "Carlos", "Mei", "Olga", "Kwame",
         "Aisha", "Pedro", "Sofia", "Liam", "Noah", "Emma", "Ava", "Mateo", "Chloe", "Ivan"]
LAST = ["Santos", "O'Brien", "Rivera", "Nguyen", "Smith", "Garcia", "Chen", "Okafor", "Silva",
        "Murphy", "Kowalski", "Haddad", "Johnson", "Brown", "Lopez", "Kim", "Costa", "Novak"]
CHUNK = 50_000


def person(i: int) -> dict:
    suffix = "".join("abcdefghijklmnopqrstuvwxyz"[(i // 26 ** k) % 26] for k in range(3))
    return {"first": FIRST[i % len(FIRST)], "last": LAST[(i // len(FIRST)) % len(LAST)] + "-" + suffix.title(),
            "dob": date(1940, 1, 1) + timedelta(days=(i * 7919) % 25_000),
            "ssn": f"{100_000_000 + i}", "household": f"HB{i:09d}",
            "enrollment": {"health": f"33{i:08d}", "dental": f"34{i:08d}"},
            "ban": {"health": make_ban(2 * i + 1), "dental": make_ban(2 * i + 2)}}  # valid check digits


async def seed(dsn: str, members: int) -> float:
    """Members, enrollments and billing accounts by COPY; returns rows/s."""
    deps = Deps.build(Settings())  # the service's own (development) keys
    pool = await create_pool(dsn, max_size=4)
    await migrate(pool, MIGRATIONS)
    shopped = datetime.now(timezone.utc) - timedelta(days=30)
    started, rows_total = time.perf_counter(), 0
    async with pool.acquire() as conn:
        for lo in range(0, members, CHUNK):
            m_rows, e_rows, b_rows = [], [], []
            for i in range(lo, min(lo + CHUNK, members)):
                p = person(i)
                sealed = deps.vault.seal(p["ssn"])
                m_rows.append((uuid.uuid4(), p["household"], p["first"], p["last"],
                               normalize_name(p["first"]), normalize_name(p["last"]), p["dob"],
                               sealed.digest, sealed.ciphertext, sealed.key_id,
                               f"m{i}@example.org", shopped))
                for plan in ("health", "dental"):
                    e_rows.append((p["enrollment"][plan], p["household"], plan, 2026,
                                   date(2026, 1, 1), f"{plan} plan", "Carrier", shopped, shopped))
                    b_rows.append((p["ban"][plan], p["household"], plan))
            async with conn.transaction():
                await conn.copy_records_to_table("members", records=m_rows, columns=[
                    "member_id", "household_id", "first_name", "last_name", "first_name_norm",
                    "last_name_norm", "date_of_birth", "ssn_hash", "ssn_encrypted", "ssn_key_id",
                    "email", "last_event_at"])
                await conn.copy_records_to_table("enrollments", records=e_rows, columns=[
                    "enrollment_id", "household_id", "plan_type", "coverage_year", "coverage_start",
                    "plan_name", "carrier", "shopped_at", "last_event_at"])
                await conn.copy_records_to_table("billing_accounts", records=b_rows, columns=[
                    "billing_account_number", "household_id", "plan_type"])
            rows_total += len(m_rows) + len(e_rows) + len(b_rows)
            print(f"  seeded {min(lo + CHUNK, members):,} members", flush=True)
        await conn.execute("ANALYZE")
    await pool.close()
    return rows_total / (time.perf_counter() - started)


async def seeded_members(dsn: str) -> int:
    """Members already in a kept database (0 when its tables are not there yet)."""
    conn = await asyncpg.connect(dsn)
    try:
        if not await conn.fetchval("SELECT to_regclass('members') IS NOT NULL"):
            return 0
        return await conn.fetchval("SELECT count(*) FROM members")
    finally:
        await conn.close()


JSON = {"Content-Type": "application/json"}
# The run's service keys: the load speaks as the gateway (whose client_ip counts), the
# histogram is read as the metrics scraper.
KEYS = generate_keys()
AS_GATEWAY = TokenSigner.from_keys(KEYS, "gateway").client_middleware("identity")
AS_SCRAPER = TokenSigner.from_keys(KEYS, "metrics").client_middleware("identity")


def lookup_bytes(members: int) -> bytes:
    """A lookup body encoded with orjson (the client's CPU counts against the same cores)."""
    return orjson.dumps(lookup_body(members))


def lookup_body(members: int) -> dict:
    i = random.randrange(members)
    p = person(i)
    plan = random.choice(("health", "dental"))
    id_type = random.choice(("enrollment_id", "ssn", "billing_account_number"))
    value = {"enrollment_id": p["enrollment"][plan], "ssn": p["ssn"],
             "billing_account_number": p["ban"][plan]}[id_type]
    body = {"plan_type": plan, "id_type": id_type, "id_value": value, "first_name": p["first"],
            "last_name": p["last"], "date_of_birth": p["dob"].isoformat(),
            "client_ip": f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"}
    if id_type == "ssn":
        body["id_value_confirmation"] = value
    return body


async def drive(urls: list[str], kind: str, members: int, concurrency: int,
                duration_s: float) -> tuple[float, float, float, dict]:
    """Requests/s, p50 ms, p99 ms and the status counts of one bounded run."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    connector = aiohttp.TCPConnector(limit=concurrency * 2)
    async with aiohttp.ClientSession(connector=connector, middlewares=(AS_GATEWAY,)) as session:
        deadline = time.perf_counter() + duration_s

        async def worker(k: int) -> None:
            url = urls[k % len(urls)]
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                if kind == "lookup":
                    resp = await session.post(f"{url}/lookups", data=lookup_bytes(members), headers=JSON)
                else:
                    resp = await session.get(f"{url}/healthz")
                await resp.read()
                latencies.append(time.perf_counter() - t0)
                statuses[resp.status] = statuses.get(resp.status, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker(k) for k in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000  # noqa: E731
    return len(latencies) / elapsed, p(0.50), p(0.99), statuses


async def server_histogram(urls: list[str], route: str) -> dict[float, float]:
    """Cumulative bucket counts of the service's own request-latency histogram (all replicas)."""
    buckets: dict[float, float] = {}
    async with aiohttp.ClientSession(middlewares=(AS_SCRAPER,)) as s:
        for url in urls:
            async with s.get(f"{url}/metrics") as r:
                text = await r.text()
            for line in text.splitlines():
                if line.startswith("http_request_seconds_bucket") and f'route="{route}"' in line:
                    le = line.split('le="')[1].split('"')[0]
                    bound = float("inf") if le == "+Inf" else float(le)
                    buckets[bound] = buckets.get(bound, 0.0) + float(line.rsplit(" ", 1)[1])
    return buckets


def histogram_quantile(before: dict[float, float], after: dict[float, float], q: float) -> float:
    """Prometheus-style quantile (linear within a bucket) of the requests between two scrapes, ms."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    total = counts[-1]
    if total <= 0:
        return float("nan")
    rank, prev_bound, prev_count = q * total, 0.0, 0.0
    for bound, count in zip(bounds, counts):
        if count >= rank:
            if bound == float("inf"):
                return prev_bound * 1000
            return (prev_bound + (bound - prev_bound) * (rank - prev_count) / max(count - prev_count, 1e-9)) * 1000
        prev_bound, prev_count = bound, count
    return float("nan")


async def drive_open(urls: list[str], members: int, rate: float,
                     duration_s: float) -> tuple[float, float, float, dict]:
    """Open loop: lookups sent at a fixed rate whatever the answers' pace (latency counted
    from each request's scheduled time, so a stall is not hidden); requests/s answered, p50
    and p99 ms, status counts."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    connector = aiohttp.TCPConnector(limit=1024)
    async with aiohttp.ClientSession(connector=connector, middlewares=(AS_GATEWAY,)) as session:
        async def one(k: int, scheduled: float) -> None:
            try:
                async with session.post(f"{urls[k % len(urls)]}/lookups", data=lookup_bytes(members), headers=JSON) as resp:
                    await resp.read()
                    statuses[resp.status] = statuses.get(resp.status, 0) + 1
            except aiohttp.ClientError:
                statuses[-1] = statuses.get(-1, 0) + 1
            latencies.append(time.perf_counter() - scheduled)

        tasks, started, k = [], time.perf_counter(), 0
        while (now := time.perf_counter()) < started + duration_s:
            due = int((now - started) * rate) + 1
            while k < due:
                tasks.append(asyncio.create_task(one(k, started + k / rate)))
                k += 1
            await asyncio.sleep(0.001)
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - started
    latencies.sort()
    p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000  # noqa: E731
    return len(latencies) / elapsed, p(0.50), p(0.99), statuses


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of processes (Linux /proc), for CPU cost per request."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


async def backend_pids(dsn: str, database: str) -> list[int]:
    conn = await asyncpg.connect(dsn)
    try:
        return [r[0] for r in await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", database)]
    finally:
        await conn.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_service(dsn: str, bootstrap: str, port: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "APP_ENV": "development",
           "KAFKA_BOOTSTRAP": bootstrap, "IDENTITY_DATABASE_URL": dsn,
           "IDENTITY_HTTP_PORT": str(port), "IDENTITY_RUN_CONSUMERS": "false",
           "IDENTITY_DB_POOL_MAX": "20", "IDENTITY_LOG_LEVEL": "WARNING",
           "SERVICE_KEYS": orjson.dumps(KEYS).decode()}
    return subprocess.Popen([sys.executable, "-m", "services.identity"], cwd=ROOT, env=env)


async def wait_healthy(url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as s:
        while time.monotonic() < deadline:
            try:
                async with s.get(f"{url}/readyz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.3)
    raise TimeoutError(f"{url} not ready")


async def main(args: argparse.Namespace) -> None:
    profile = infra.PROFILES["bench"]
    keep = args.keep_database is not None
    name = args.keep_database or f"bench_identity_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(profile.dsn("postgres"))
    exists = await admin.fetchval("SELECT true FROM pg_database WHERE datname = $1", name)
    if not exists:
        await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    procs: list[subprocess.Popen] = []
    try:
        seeded = await seeded_members(profile.dsn(name)) if exists else 0
        if seeded == args.members:
            print(f"reusing {name}: {seeded:,} members already seeded (--keep-database); "
                  f"throttle counters emptied as in a fresh database")
            conn = await asyncpg.connect(profile.dsn(name))
            await conn.execute("TRUNCATE throttle_counters")
            await conn.close()
        else:
            if seeded:
                raise SystemExit(f"{name} holds {seeded:,} members, not {args.members:,}: "
                                 f"drop it or name another database")
            print(f"seeding {args.members:,} members (x2 enrollments, x2 billing accounts) into {name}")
            rate = await seed(profile.dsn(name), args.members)
            print(f"seed: {rate:,.0f} rows/s")
        ports = [free_port() for _ in range(args.replicas)]
        procs = [start_service(profile.dsn(name), profile.bootstrap, p) for p in ports]
        urls = [f"http://127.0.0.1:{p}" for p in ports]
        for url in urls:
            await wait_healthy(url)
        await drive(urls, "lookup", args.members, args.concurrency, 2.0)  # warm-up
        results: dict[str, list] = {"lookup": [], "healthz": []}
        open_loop: list[tuple] = []
        server: tuple[list[float], list[float]] = ([], [])
        cpu: dict[str, list[tuple[float, float]]] = {"lookup": [], "healthz": []}
        for r in range(args.rounds):
            for kind in ("lookup", "healthz"):
                before = await server_histogram(urls, "/lookups")
                pg_pids = await backend_pids(profile.dsn(name), name)
                svc0, pg0 = cpu_seconds([p.pid for p in procs]), cpu_seconds(pg_pids)
                out = await drive(urls, kind, args.members, args.concurrency, args.duration)
                svc_ms = (cpu_seconds([p.pid for p in procs]) - svc0) * 1000 / (out[0] * args.duration)
                pg_ms = (cpu_seconds(pg_pids) - pg0) * 1000 / (out[0] * args.duration)
                cpu[kind].append((svc_ms, pg_ms))
                results[kind].append(out)
                rps, p50, p99, statuses = out
                extra = ""
                if kind == "lookup":
                    after = await server_histogram(urls, "/lookups")
                    s50, s99 = (histogram_quantile(before, after, q) for q in (0.5, 0.99))
                    server[0].append(s50)
                    server[1].append(s99)
                    extra = f"  in-service p50 {s50:5.2f} ms p99 {s99:5.2f} ms"
                print(f"round {r + 1} {kind:8s}: {rps:7,.0f} req/s  client p50 {p50:6.2f} ms  "
                      f"p99 {p99:6.2f} ms{extra}  CPU/request: service {svc_ms:.3f} ms, "
                      f"PostgreSQL {pg_ms:.3f} ms  statuses {statuses}", flush=True)
            if args.rate:  # in the same round, so all three see the same machine load
                before = await server_histogram(urls, "/lookups")
                rps, p50, p99, statuses = await drive_open(urls, args.members, args.rate, args.duration)
                after = await server_histogram(urls, "/lookups")
                s50, s99 = (histogram_quantile(before, after, q) for q in (0.5, 0.99))
                open_loop.append((rps, p50, p99, s50, s99))
                print(f"round {r + 1} open loop at {args.rate:,.0f}/s: {rps:7,.0f} answered/s  client "
                      f"p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  in-service p50 {s50:5.2f} ms "
                      f"p99 {s99:5.2f} ms  statuses {statuses}", flush=True)
        med = {k: [statistics.median(x[i] for x in v) for i in range(3)] for k, v in results.items()}
        bad = sum(n for _, _, _, st in results["lookup"] for s, n in st.items() if s != 200)
        print(f"\nmembers: {args.members:,}; replicas: {args.replicas}; concurrency: "
              f"{args.concurrency}; {args.rounds} rounds of {args.duration:.0f} s; client, "
              f"service and PostgreSQL on the same 2 shared cores")
        print(f"POST /lookups (median): {med['lookup'][0]:,.0f} lookups/s, "
              f"client-side p50 {med['lookup'][1]:.2f} ms, p99 {med['lookup'][2]:.2f} ms; "
              f"in-service p50 {statistics.median(server[0]):.2f} ms, "
              f"p99 {statistics.median(server[1]):.2f} ms (from the service's histogram, "
              f"interpolated in its buckets); non-200 answers: {bad}")
        print(f"GET /healthz ceiling (median): {med['healthz'][0]:,.0f} req/s, "
              f"p50 {med['healthz'][1]:.2f} ms, p99 {med['healthz'][2]:.2f} ms")
        print(f"ratio lookups/healthz: {med['lookup'][0] / med['healthz'][0]:.2f}")
        for kind in ("lookup", "healthz"):
            print(f"CPU per {kind} (median): service {statistics.median(c[0] for c in cpu[kind]):.3f} ms, "
                  f"PostgreSQL {statistics.median(c[1] for c in cpu[kind]):.3f} ms")
        if open_loop:
            m = [statistics.median(x[i] for x in open_loop) for i in range(5)]
            print(f"open loop at {args.rate:,.0f} lookups/s offered (median): {m[0]:,.0f} answered/s, "
                  f"client-side p50 {m[1]:.2f} ms, p99 {m[2]:.2f} ms; in-service p50 {m[3]:.2f} ms, "
                  f"p99 {m[4]:.2f} ms")
        # The goal: the most lookups/s (closed loop) reaches 2,000, and at 2,000 lookups/s
        # offered (open loop) the service answers with p99 under 20 ms.
        s99_open = statistics.median(x[4] for x in open_loop) if open_loop and args.rate >= 2000 else None
        met = med["lookup"][0] >= 2000 and s99_open is not None and s99_open < 20
        print(f"goal (>= 2,000 lookups/s, p99 < 20 ms at 2,000/s offered): "
              f"{'met' if met else 'NOT met'}: max {med['lookup'][0]:,.0f} lookups/s; "
              + (f"in-service p99 {s99_open:.2f} ms at {args.rate:,.0f}/s offered"
                 if s99_open is not None else "no open loop at >= 2,000/s (--rate)")
              + " (client-side p99 includes the client's own queueing on the shared cores)")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        if not keep:
            admin = await asyncpg.connect(profile.dsn("postgres"))
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="identity lookup throughput and latency")
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--rate", type=float, default=2000.0,
                        help="also offer lookups at this fixed rate (open loop) to read p99 below saturation; 0: skip")
    parser.add_argument("--keep-database", metavar="NAME",
                        help="seed into this database only if it is empty, and keep it at the end "
                             "(reruns skip seeding); default: a fresh database dropped at the end")
    args = parser.parse_args()
    assert 1 <= args.members <= 5_000_000 and 1 <= args.duration <= 120 and 1 <= args.rounds <= 10
    infra.up("bench")
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main(args))
