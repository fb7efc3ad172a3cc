"""Gateway load: GET /api/v1/billing-accounts/{ban} (the account summary) at concurrency 32,
against a bare aiohttp JSON handler measured in the same run, for the ratio.

The gateway path is the real one: a lookup token is verified (HMAC), the account is read
from the gateway's account cache or, on a miss, billing's account, payments' autopay and the
payments on their way are fetched in parallel over HTTP; cents become decimal strings, the
security headers and the request id are added. Figures are requests/s, p50 and p99.

Modes:
- default (`--upstreams real`): starts the whole stack (scripts/stack.py: every service,
  the sandboxes, the gateway, each its own process) on the bench servers
  (`scripts/infra.py up --profile bench`: Kafka 127.0.0.1:29092, PostgreSQL 127.0.0.1:55434)
  in databases of its own (dropped at the end), seeds `--accounts` households on
  enrollment.v1 and waits for billing to open their accounts. Each request asks for one of
  those accounts at random, with a lookup token for it. Two gateways are measured: the
  stack's (account cache on, as shipped; its cache hits and misses in the measured window
  are printed from its /metrics) and a second gateway process beside it with the cache off
  (every request fetched from billing and payments).
- `--upstreams fake`: the gateway process in front of one tiny upstream process answering
  billing's and payments' three calls with fixed JSON: the gateway's own cost alone; a bare
  handler making the same three upstream calls ("fan-out") is measured too, as the floor.
- `--gateway-url URL --ban BAN --token TOKEN`: an already running gateway.

The load generator runs in `--clients` processes (asyncio + aiohttp, keep-alive), sharing
the machine's 2 cores with everything it measures; rounds alternate the targets so all see
the same load, and medians are printed. First closed loop (`--concurrency` requests in
flight: throughput against the bare handler), then open loop (`--rate` requests/s offered
to each target on a fixed schedule, latency counted from when each was due: p99 at that
load). Load pattern (`--pattern`): `members` (default), each member's visit reading their
account 5 times among the other visits in progress, as the portal's pages do; `uniform`,
every read any account at random (with more accounts than reads in a round, nearly every
read is an account's first, and no cache can hit it). Per gateway round the cache's reads
are printed for the warm-up and the measured window apart, with the bypasses' reasons and
the share of reads in the window that repeated an account (the most any cache could hit).

Usage: .venv/bin/python bench/gateway_load.py [--duration 10] [--rounds 2] [--concurrency 32]
       [--accounts 10000] [--rate 1000] [--pattern members|uniform]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402

from bench.cpu import CpuSampler, kafka_pids, postgres_pids, postmaster_pid, process_tree  # noqa: E402
from scripts import infra  # noqa: E402
from shared.service_auth import TokenSigner, generate_keys  # noqa: E402

BENCH_PROFILE = infra.PROFILES["bench"]  # its ports follow TEST_PORT_SHIFT

BENCH_KAFKA = BENCH_PROFILE.bootstrap
BENCH_PG = BENCH_PROFILE.dsn("postgres")

BARE_SERVER = """
import sys, orjson, uvloop
from aiohttp import web
BODY = orjson.dumps({"billing_account_number": "7000000013", "total_balance": "193.00",
                     "lines": [{"coverage_year": 2030, "balance": "94.00"}], "notices": []})
async def handler(request):
    return web.Response(body=BODY, content_type="application/json")
app = web.Application()
app.router.add_get("/api/v1/billing-accounts/{ban}", handler)
uvloop.install()
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""

FANOUT_SERVER = """
import sys, asyncio, orjson, uvloop, aiohttp
from aiohttp import web
UP = sys.argv[2]
HTTP = web.AppKey("http", aiohttp.ClientSession)
async def handler(request):
    http = request.app[HTTP]
    async def get(path):
        async with http.get(UP + path) as r:
            return orjson.loads(await r.read())
    ban = request.match_info["ban"]
    account, autopay, pending = await asyncio.gather(
        get(f"/accounts/{ban}"), get(f"/accounts/{ban}/autopay"), get(f"/accounts/{ban}/pending"))
    return web.Response(body=orjson.dumps({"account": account, "autopay": autopay, "pending": pending}),
                        content_type="application/json")
async def client(app):
    app[HTTP] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100))
    yield
    await app[HTTP].close()
app = web.Application()
app.cleanup_ctx.append(client)
app.router.add_get("/api/v1/billing-accounts/{ban}", handler)
uvloop.install()
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""

FAKE_UPSTREAM = """
import sys, orjson, uvloop
from aiohttp import web
ACCOUNT = orjson.dumps({"billing_account_number": "7000000013", "household_id": "HH-1",
    "plan_type": "health", "status": "active", "total_balance_cents": 19300,
    "pending_payments_cents": 0, "credit_cents": 0, "delinquency": None, "payment_plan": None,
    "lines": [{"coverage_year": 2030, "plan_name": "Plan 2B", "carrier": "Tufts",
               "balance_cents": 9400, "current_premium_cents": 9400, "due_date": "2030-12-23",
               "status": "due"}]})
AUTOPAY = orjson.dumps({"error": {"code": "no_autopay", "message": "None.", "fields": {}}})
PENDING = orjson.dumps({"pending_total_cents": 0, "payments": []})
async def account(request):
    return web.Response(body=ACCOUNT, content_type="application/json")
async def autopay(request):
    return web.Response(body=AUTOPAY, status=404, content_type="application/json")
async def pending(request):
    return web.Response(body=PENDING, content_type="application/json")
async def ok(request):
    return web.Response(text="{}", content_type="application/json")
app = web.Application()
app.router.add_get("/accounts/{ban}", account)
app.router.add_get("/accounts/{ban}/autopay", autopay)
app.router.add_get("/accounts/{ban}/pending", pending)
app.router.add_get("/readyz", ok)
uvloop.install()
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ load generator

MEMBER_READS = 5     # lookup, billing step, review, confirmation, dashboard
MEMBERS_ACTIVE = 200  # members in the middle of a visit at once, per client process
DRAIN_S = 60.0  # open loop: how long a round waits for the answers still owed at its end


def _client_process(targets: list[tuple[str, dict]], concurrency: int, duration_s: float, queue,
                    rate: float = 0.0, pattern: str = "uniform") -> None:
    """Closed loop (`concurrency` workers, each sending its next request when the last is
    answered) or, with `rate`, open loop: requests leave on a fixed schedule whatever the
    answers, and each latency counts from the moment its request was due (a server that
    falls behind is charged for the queue it builds, not hidden by a waiting client)."""
    import random

    import uvloop
    uvloop.install()

    # "members": a member's visit reads their account MEMBER_READS times, interleaved with
    # the other members' visits in progress; "uniform": every read any account at random.
    visits: list[list[int]] = []  # [account, reads left]
    order = random.sample(range(len(targets)), len(targets))

    def pick() -> int:
        if pattern == "uniform" or len(targets) == 1:
            return random.randrange(len(targets))
        while len(visits) < MEMBERS_ACTIVE:
            visits.append([order.pop() if order else random.randrange(len(targets)), MEMBER_READS])
        k = random.randrange(len(visits))
        visits[k][1] -= 1
        account = visits[k][0]
        if not visits[k][1]:
            visits[k] = visits[-1]
            visits.pop()
        return account

    latencies: list[float] = []
    asked: list[int] = []

    async def run() -> tuple[int, int, list[float], list[int]]:
        errors = 0
        connector = aiohttp.TCPConnector(limit=concurrency if not rate else 1000)
        async with aiohttp.ClientSession(connector=connector) as http:
            deadline = time.perf_counter() + duration_s

            async def one(due: float) -> None:
                nonlocal errors
                i = pick()
                url, headers = targets[i]
                asked.append(i)
                try:
                    async with http.get(url, headers=headers) as r:
                        await r.read()
                        if r.status != 200:
                            errors += 1
                except aiohttp.ClientError:
                    errors += 1
                latencies.append(time.perf_counter() - due)

            async def worker() -> None:
                while time.perf_counter() < deadline:
                    await one(time.perf_counter())

            if not rate:
                await asyncio.gather(*(worker() for _ in range(concurrency)))
            else:
                started, sent, pending = time.perf_counter(), 0, set()
                while (due := started + sent / rate) < deadline:
                    delay = due - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    task = asyncio.create_task(one(due))
                    pending.add(task)
                    task.add_done_callback(pending.discard)
                    sent += 1
                # The round ends when every request sent has been answered (an overloaded
                # target's backlog must not run on into the next target's round); one
                # still unanswered after DRAIN_S counts as an error.
                if pending:
                    _done, late = await asyncio.wait(pending, timeout=DRAIN_S)
                    errors += len(late)
        return len(latencies), errors, latencies, asked

    queue.put(asyncio.run(run()))


def measure(targets: list[tuple[str, dict]], concurrency: int, clients: int, duration_s: float,
            rate: float = 0.0, between=None, pattern: str = "uniform",
            cpu: CpuSampler | None = None) -> dict:
    """Warm up briefly, then load for `duration_s` from `clients` processes (open loop at
    `rate` requests/s in all when given). `between()` is called after the warm-up and at
    the end (the cache's counters, read apart for each window); `cpu` is sampled over the
    measured window (CPU seconds per process group)."""
    ctx = mp.get_context("spawn")
    marks = []
    for _phase, seconds in (("warmup", min(2.0, duration_s / 4)), ("measure", duration_s)):
        if between is not None:
            marks.append(between())
        queue = ctx.Queue()
        per = [concurrency // clients + (1 if i < concurrency % clients else 0) for i in range(clients)]
        procs = [ctx.Process(target=_client_process, args=(targets, n, seconds, queue, rate / clients, pattern))
                 for n in per]
        if cpu is not None and _phase == "measure":
            cpu.start()
        started = time.perf_counter()
        for p in procs:
            p.start()
        results = [queue.get() for _ in procs]
        for p in procs:
            p.join()
        elapsed = time.perf_counter() - started
    cpu_s = cpu.stop() if cpu is not None else {}
    if between is not None:
        marks.append(between())
    count = sum(r[0] for r in results)
    errors = sum(r[1] for r in results)
    latencies = sorted(x for r in results for x in r[2])
    asked = [i for r in results for i in r[3]]
    # Rate over the load window itself (process start-up is outside the clients' clock).
    return {"rps": count / seconds, "p50_ms": latencies[len(latencies) // 2] * 1000,
            "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000, "errors": errors,
            "requests": count, "wall_s": elapsed, "marks": marks, "cpu_s": cpu_s,
            # The best any cache could do in this window: every read of an account after
            # its first one a hit.
            "repeat_share": 1 - len(set(asked)) / max(len(asked), 1)}


async def wait_http(url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(url) as r:
                    if r.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise TimeoutError(url)


# ------------------------------------------------------------------ what is measured

async def create_dbs(names: list[str]) -> dict[str, str]:
    admin = await asyncpg.connect(BENCH_PG)
    try:
        for name in names:
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return {n: BENCH_PG.rsplit("/", 1)[0] + "/" + n for n in names}


async def drop_dbs(names: list[str]) -> None:
    admin = await asyncpg.connect(BENCH_PG)
    try:
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


BENCH_SECRET = "dev-only-bench-gateway-secret"
# The run's service keys: every process gets them; the cache counters are read from the
# gateway's /metrics as the metrics scraper.
SERVICE_KEYS = generate_keys()


async def start_real_stack(suffix: str, cleanup: list, accounts: int, groups: dict) -> dict[str, list[tuple[str, dict]]]:
    """The whole stack with `accounts` households; targets for the gateway (cache on) and
    for a second gateway with the cache off, each request one of the accounts. Its
    processes are added to `groups` (name: pids, for the CPU figures)."""
    from scripts.seed_demo import enrollment_event, publish
    from scripts.stack import DATABASES, Ports, Stack, StackConfig
    from services.gateway.domain.tokens import Signer

    names = {svc: f"bench_gw_{svc}_{suffix}" for svc in DATABASES}
    dsns = await create_dbs(list(names.values()))
    cleanup.append(lambda: drop_dbs(list(names.values())))
    config = StackConfig(kafka_bootstrap=BENCH_KAFKA, dsn_of={s: dsns[n] for s, n in names.items()},
                         state_dir=ROOT / ".state" / "bench" / f"gw-{suffix}", ports=Ports.offset(20_000 + infra.TEST_PORT_SHIFT),
                         captcha_enabled=False, app_env="test", service_keys=SERVICE_KEYS,
                         extra_env={"GATEWAY_COOKIE_SECURE": "false", "GATEWAY_RATE_LIMIT_PER_MINUTE": "100000000",
                                    "GATEWAY_SECRET_KEY": BENCH_SECRET, "LOG_LEVEL": "WARNING"})
    stack = Stack(config)
    stack.start()
    cleanup.append(lambda: asyncio.to_thread(stack.stop))
    await stack.wait_ready(timeout_s=120)
    # The same gateway with its account cache off, beside the stack's.
    nocache_port = free_port()
    stack.start_one("gateway-nocache", "services.gateway",
                    {**os.environ, **config.environment(), "GATEWAY_HTTP_PORT": str(nocache_port),
                     "GATEWAY_ACCOUNT_CACHE_TTL_S": "0"})
    nocache = f"http://127.0.0.1:{nocache_port}"
    await wait_http(f"{nocache}/readyz")
    groups.update({name: partial(process_tree, proc.pid) for name, proc in stack.procs.items()})
    groups["PostgreSQL"] = partial(postgres_pids, BENCH_PROFILE.state)
    groups["Kafka"] = kafka_pids(BENCH_PROFILE.state)

    start = (date.today().replace(day=1) + timedelta(days=32)).replace(day=1)
    base = uuid.uuid4().int % 10**6 * 1000
    households = [f"HH-bench-{suffix}-{i}" for i in range(accounts)]
    events = [enrollment_event(
        enrollment_id=f"34{(base + i) % 10**8:08d}", household_id=hh, plan_type="health",
        coverage_year=start.year, coverage_start=start, plan_name="Bench Silver",
        carrier="Bench Carrier", premium_cents=25_000 + i, aptc=False,
        shopped_at=datetime.now(timezone.utc) - timedelta(days=1), first_name="Bench",
        last_name=f"Member{i}", date_of_birth=date(1980, 1, 1), ssn=None,
        email=f"bench{i}@example.org", phone="6175550100") for i, hh in enumerate(households)]
    await publish(BENCH_KAFKA, events)
    billing = await asyncpg.connect(dsns[names["billing"]])
    try:
        deadline = time.monotonic() + 180
        while True:
            bans = [r["billing_account_number"] for r in await billing.fetch(
                "SELECT billing_account_number FROM accounts WHERE household_id LIKE $1",
                f"HH-bench-{suffix}-%")]
            if len(bans) == accounts:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"billing opened {len(bans)} of {accounts} accounts")
            await asyncio.sleep(0.5)
    finally:
        await billing.close()
    # A guest's token for each account, as a lookup through the gateway would give.
    signer = Signer(BENCH_SECRET)
    tokens = {ban: signer.sign("lookup", {"ban": ban, "plan_type": "health"}, 3600) for ban in bans}
    gateway = config.ports.url("gateway")
    return {name: [(f"{url}/api/v1/billing-accounts/{ban}", {"Authorization": f"Bearer {tok}"})
                   for ban, tok in tokens.items()]
            for name, url in (("gateway", gateway), ("no-cache", nocache))}


async def start_fake_upstreams(suffix: str, cleanup: list, groups: dict, workers: int = 1):
    from services.gateway.domain.tokens import Signer

    db = f"bench_gw_gateway_{suffix}"
    dsn = (await create_dbs([db]))[db]
    cleanup.append(lambda: drop_dbs([db]))
    up_port, gw_port = free_port(), free_port()
    upstream = subprocess.Popen([sys.executable, "-c", FAKE_UPSTREAM, str(up_port)], cwd=ROOT)
    cleanup.append(lambda: asyncio.to_thread(_stop, upstream))
    secret = "dev-only-bench-secret"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GATEWAY_HTTP_PORT": str(gw_port),
           "GATEWAY_DATABASE_URL": dsn, "GATEWAY_SECRET_KEY": secret, "GATEWAY_LOG_LEVEL": "WARNING",
           "GATEWAY_RATE_LIMIT_PER_MINUTE": "100000000", "GATEWAY_WORKERS": str(workers),
           "GATEWAY_ACCOUNT_CACHE_TTL_S": "0", "SERVICE_KEYS": json.dumps(SERVICE_KEYS),
           **{f"GATEWAY_{s}_URL": f"http://127.0.0.1:{up_port}" for s in ("IDENTITY", "BILLING", "PAYMENTS", "NOTIFY")}}
    gateway = subprocess.Popen([sys.executable, "-m", "services.gateway"], cwd=ROOT, env=env)
    cleanup.append(lambda: asyncio.to_thread(_stop, gateway))
    url = f"http://127.0.0.1:{gw_port}"
    await wait_http(f"{url}/readyz")
    token = Signer(secret).sign("lookup", {"ban": "7000000013", "plan_type": "health"}, 3600)
    # The floor for any gateway: a bare handler making the same three upstream calls.
    fanout_port = free_port()
    fanout = subprocess.Popen([sys.executable, "-c", FANOUT_SERVER, str(fanout_port),
                               f"http://127.0.0.1:{up_port}"], cwd=ROOT)
    cleanup.append(lambda: asyncio.to_thread(_stop, fanout))
    groups.update({"gateway": partial(process_tree, gateway.pid), "fake upstream": [upstream.pid],
                   "fan-out": [fanout.pid]})
    await wait_http(f"http://127.0.0.1:{fanout_port}/api/v1/billing-accounts/x")
    headers = {"Authorization": f"Bearer {token}"}
    return {"fan-out": [(f"http://127.0.0.1:{fanout_port}/api/v1/billing-accounts/7000000013", headers)],
            "gateway": [(f"{url}/api/v1/billing-accounts/7000000013", headers)]}


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()


def cache_reads(gateway_url: str) -> dict[str, float]:
    """The gateway's account cache counters from its /metrics: reads by outcome (hit, miss,
    shared, bypass) and bypasses by reason (`bypass:<reason>`)."""
    import urllib.request

    scraper = TokenSigner.from_keys(SERVICE_KEYS, "metrics")
    request = urllib.request.Request(f"{gateway_url}/metrics", headers=scraper.headers("gateway"))
    with urllib.request.urlopen(request, timeout=10) as r:  # noqa: S310 - our own gateway
        text = r.read().decode()
    counts: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("gateway_account_cache_reads_total{"):
            outcome = line.split('outcome="', 1)[1].split('"', 1)[0]
            counts[outcome] = float(line.rsplit(" ", 1)[1])
        elif line.startswith("gateway_account_cache_bypass_total{"):
            reason = line.split('reason="', 1)[1].split('"', 1)[0]
            counts[f"bypass:{reason}"] = float(line.rsplit(" ", 1)[1])
    return counts


def cache_window(before: dict[str, float], after: dict[str, float]) -> str:
    """`hit 41% (n), miss ..., bypass ...` for the reads between two readings."""
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    reads = {k: v for k, v in delta.items() if ":" not in k}
    total = sum(reads.values())
    if not total:
        return "no reads"
    text = ", ".join(f"{k} {v / total:.0%}" for k, v in sorted(reads.items()) if v)
    reasons = {k.split(":", 1)[1]: v for k, v in delta.items() if ":" in k and v}
    if reasons:
        text += " (bypassed: " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(reasons.items())) + ")"
    return text


def cpu_per_request(m: dict) -> str:
    """`gateway 0.31, billing 0.12, ... (all 0.80)`: each process group's CPU milliseconds
    per request answered in the window, the busiest first, those under 0.01 ms left out."""
    per = {k: v * 1000 / max(m["requests"], 1) for k, v in m["cpu_s"].items()}
    shown = [f"{k} {v:.2f}" for k, v in sorted(per.items(), key=lambda kv: -kv[1]) if v >= 0.01]
    return ", ".join(shown) + f" (all {sum(per.values()):.2f})"


def hit_rate(before: dict[str, float], after: dict[str, float]) -> float:
    reads = {k: after.get(k, 0) - before.get(k, 0) for k in after if ":" not in k}
    return reads.get("hit", 0) / max(sum(reads.values()), 1)


async def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--clients", type=int, default=2, help="load generator processes")
    parser.add_argument("--accounts", type=int, default=10_000, help="real mode: accounts asked for at random")
    parser.add_argument("--upstreams", choices=("real", "fake"), default="real")
    parser.add_argument("--gateway-url")
    parser.add_argument("--ban")
    parser.add_argument("--token")
    parser.add_argument("--gateway-workers", type=int, default=1, help="fake mode: GATEWAY_WORKERS")
    parser.add_argument("--json", help="also write the figures to this file (bench/report.py)")
    parser.add_argument("--pattern", choices=("members", "uniform"), default="members",
                        help="members: each member's visit reads their account 5 times among "
                             "others' visits; uniform: every read any account at random")
    parser.add_argument("--rate", type=float, default=1000.0,
                        help="then open loop at this many requests/s per target (0: closed loop only)")
    args = parser.parse_args(argv)

    cleanup: list = []
    suffix = uuid.uuid4().hex[:8]
    bare_port = free_port()
    bare = subprocess.Popen([sys.executable, "-c", BARE_SERVER, str(bare_port)], cwd=ROOT)
    cleanup.append(lambda: asyncio.to_thread(_stop, bare))
    # CPU seconds per process over each measured window; the load generator's processes
    # are this one's children, counted by what it reaped of them.
    groups: dict = {"bare": [bare.pid], "load generator": []}
    reapers = {"load generator": os.getpid()}
    try:
        if args.gateway_url:
            targets = {"gateway": [(f"{args.gateway_url}/api/v1/billing-accounts/{args.ban}",
                                    {"Authorization": f"Bearer {args.token}"})]}
            mode = "running gateway"
        elif args.upstreams == "fake":
            targets = await start_fake_upstreams(suffix, cleanup, groups, args.gateway_workers)
            mode = f"gateway ({args.gateway_workers} worker(s), account cache off) + fake upstream process"
        else:
            targets = await start_real_stack(suffix, cleanup, args.accounts, groups)
            reapers["PostgreSQL"] = postmaster_pid(BENCH_PROFILE.state)
            mode = (f"whole stack (identity, billing, payments, notify, sandboxes, gateway), "
                    f"{args.accounts} accounts asked for at random")
        bare_url = f"http://127.0.0.1:{bare_port}/api/v1/billing-accounts/7000000013"
        await wait_http(bare_url)
        targets = {"bare": [(bare_url, {})], **targets}
        async with aiohttp.ClientSession() as http:
            for name, pairs in targets.items():
                url, headers = pairs[0]
                async with http.get(url, headers=headers) as r:
                    sample = await r.json()
                    assert r.status == 200 and not sample.get("notices"), (name, sample)
        print(f"mode: {mode}; load pattern {args.pattern}; concurrency {args.concurrency} from {args.clients} client processes; "
              f"{args.duration:.0f} s per round, {args.rounds} rounds; 2 shared cores", flush=True)
        gateway_base = targets["gateway"][0][0].split("/api/")[0]
        cached = args.gateway_url is None and args.upstreams == "real"
        figures = {}
        for loop, rate in (("closed", 0.0), ("open", args.rate)) if args.rate else (("closed", 0.0),):
            if loop == "open":
                print(f"open loop: {rate:.0f} requests/s offered to each target", flush=True)
            results: dict[str, list[dict]] = {name: [] for name in targets}
            for i in range(args.rounds):
                for name, pairs in targets.items():
                    between = (lambda: cache_reads(gateway_base)) if name == "gateway" and cached else None
                    m = measure(pairs, args.concurrency, args.clients, args.duration, rate, between,
                                args.pattern, CpuSampler(groups, reapers))
                    results[name].append(m)
                    line = (f"round {i + 1} {name:8s} {m['rps']:8.0f} req/s  p50 {m['p50_ms']:6.1f} ms  "
                            f"p99 {m['p99_ms']:6.1f} ms  errors {m['errors']}")
                    if between is not None:
                        warm, start, end = m["marks"]
                        m["hit_rate"] = hit_rate(start, end)
                        line += (f"\n    cache, warm-up: {cache_window(warm, start)}"
                                 f"\n    cache, measured: {cache_window(start, end)}; "
                                 f"repeat reads in the window {m['repeat_share']:.0%} (the most any cache could hit)")
                    print(line + "\n    CPU ms per request: " + cpu_per_request(m), flush=True)
            med = {n: {k: statistics.median(r[k] for r in rs) for k in ("rps", "p50_ms", "p99_ms")}
                   for n, rs in results.items()}
            print(f"median ({loop} loop):")
            for n in results:
                print(f"  {n:8s} {med[n]['rps']:8.0f} req/s  p50 {med[n]['p50_ms']:6.1f} ms  p99 {med[n]['p99_ms']:6.1f} ms")
            if loop == "closed":
                print(f"  gateway / bare throughput ratio: {med['gateway']['rps'] / med['bare']['rps']:.2f} (goal >= 0.3)")
                if "fan-out" in med:
                    print(f"  gateway / bare three-call fan-out ratio: {med['gateway']['rps'] / med['fan-out']['rps']:.2f}")
                if "no-cache" in med:
                    print(f"  no-cache gateway / bare throughput ratio: "
                          f"{med['no-cache']['rps'] / med['bare']['rps']:.2f} (goal >= 0.15)")
                    print(f"  gateway with / without its account cache: {med['gateway']['rps'] / med['no-cache']['rps']:.2f}")
            else:
                print(f"  gateway p99 at {rate:.0f}/s offered: {med['gateway']['p99_ms']:.1f} ms (goal < 50 ms)")
            if cached:
                print("  hit rate per round, measured windows: "
                      + ", ".join(f"{r['hit_rate']:.0%}" for r in results["gateway"]))
            figures[loop] = {"median": med, "rounds": {n: [{k: v for k, v in r.items() if k != "marks"}
                                                           for r in rs] for n, rs in results.items()}}
        if args.json:
            Path(args.json).write_text(json.dumps(figures, indent=2))
        return figures
    finally:
        for step in reversed(cleanup):
            try:
                await step()
            except Exception as exc:  # noqa: BLE001 - clean up the rest anyway
                print(f"cleanup: {exc}", file=sys.stderr)


if __name__ == "__main__":
    asyncio.run(main())
