"""Gateway load: GET /api/v1/billing-accounts/{ban} (the account summary) at concurrency 32,
against a bare aiohttp JSON handler measured in the same run, for the ratio.

The gateway path is the real one: a lookup token is verified (HMAC), billing's account and
payments' autopay are fetched in parallel over HTTP, cents become decimal strings, the
security headers and the request id are added. Figures are requests/s, p50 and p99.

Modes:
- default (`--upstreams real`): starts the whole stack (scripts/stack.py: every service,
  the sandboxes, the gateway, each its own process) on the bench servers
  (`scripts/infra.py up --profile bench`: Kafka 127.0.0.1:29092, PostgreSQL 127.0.0.1:55434)
  in databases of its own (dropped at the end), seeds one household on enrollment.v1 and
  looks it up for a token.
- `--upstreams fake`: the gateway process in front of one tiny upstream process answering
  billing's and payments' two calls with fixed JSON: the gateway's own cost alone; a bare
  handler making the same two upstream calls ("fan-out") is measured too, as the floor.
- `--gateway-url URL --ban BAN --token TOKEN`: an already running gateway.

The load generator runs in `--clients` processes (asyncio + aiohttp, keep-alive), sharing
the machine's 2 cores with everything it measures; rounds alternate bare and gateway so
both see the same load, and medians are printed.

Usage: .venv/bin/python bench/gateway_load.py [--duration 10] [--rounds 2] [--concurrency 32]
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
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

BENCH_KAFKA = "127.0.0.1:29092"
BENCH_PG = "postgresql://postgres@127.0.0.1:55434/postgres"

BARE_SERVER = """
import sys, orjson, uvloop
from aiohttp import web
BODY = orjson.dumps({"billing_account_number": "7000000001", "total_balance": "193.00",
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
async def handler(request):
    http = request.app["http"]
    async def get(path):
        async with http.get(UP + path) as r:
            return orjson.loads(await r.read())
    ban = request.match_info["ban"]
    account, autopay = await asyncio.gather(get(f"/accounts/{ban}"), get(f"/accounts/{ban}/autopay"))
    return web.Response(body=orjson.dumps({"account": account, "autopay": autopay}),
                        content_type="application/json")
async def client(app):
    app["http"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100))
    yield
    await app["http"].close()
app = web.Application()
app.cleanup_ctx.append(client)
app.router.add_get("/api/v1/billing-accounts/{ban}", handler)
uvloop.install()
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""

FAKE_UPSTREAM = """
import sys, orjson, uvloop
from aiohttp import web
ACCOUNT = orjson.dumps({"billing_account_number": "7000000001", "household_id": "HH-1",
    "plan_type": "health", "status": "active", "total_balance_cents": 19300,
    "pending_payments_cents": 0, "credit_cents": 0, "delinquency": None, "payment_plan": None,
    "lines": [{"coverage_year": 2030, "plan_name": "Plan 2B", "carrier": "Tufts",
               "balance_cents": 9400, "current_premium_cents": 9400, "due_date": "2030-12-23",
               "status": "due"}]})
AUTOPAY = orjson.dumps({"error": {"code": "no_autopay", "message": "None.", "fields": {}}})
async def account(request):
    return web.Response(body=ACCOUNT, content_type="application/json")
async def autopay(request):
    return web.Response(body=AUTOPAY, status=404, content_type="application/json")
async def ok(request):
    return web.Response(text="{}", content_type="application/json")
app = web.Application()
app.router.add_get("/accounts/{ban}", account)
app.router.add_get("/accounts/{ban}/autopay", autopay)
app.router.add_get("/readyz", ok)
uvloop.install()
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ load generator

def _client_process(url: str, headers: dict, concurrency: int, duration_s: float, queue) -> None:
    import uvloop
    uvloop.install()

    async def run() -> tuple[int, int, list[float]]:
        latencies: list[float] = []
        errors = 0
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector, headers=headers) as http:
            deadline = time.perf_counter() + duration_s

            async def worker() -> None:
                nonlocal errors
                while time.perf_counter() < deadline:
                    started = time.perf_counter()
                    async with http.get(url) as r:
                        await r.read()
                        if r.status != 200:
                            errors += 1
                    latencies.append(time.perf_counter() - started)

            await asyncio.gather(*(worker() for _ in range(concurrency)))
        return len(latencies), errors, latencies

    queue.put(asyncio.run(run()))


def measure(url: str, headers: dict, concurrency: int, clients: int, duration_s: float) -> dict:
    """Warm up briefly, then load for `duration_s` from `clients` processes."""
    ctx = mp.get_context("spawn")
    for phase, seconds in (("warmup", min(2.0, duration_s / 4)), ("measure", duration_s)):
        queue = ctx.Queue()
        per = [concurrency // clients + (1 if i < concurrency % clients else 0) for i in range(clients)]
        procs = [ctx.Process(target=_client_process, args=(url, headers, n, seconds, queue)) for n in per]
        started = time.perf_counter()
        for p in procs:
            p.start()
        results = [queue.get() for _ in procs]
        for p in procs:
            p.join()
        elapsed = time.perf_counter() - started
    count = sum(r[0] for r in results)
    errors = sum(r[1] for r in results)
    latencies = sorted(x for r in results for x in r[2])
    # Rate over the load window itself (process start-up is outside the clients' clock).
    return {"rps": count / seconds, "p50_ms": latencies[len(latencies) // 2] * 1000,
            "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000, "errors": errors,
            "requests": count, "wall_s": elapsed}


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


async def start_real_stack(suffix: str, cleanup: list):
    from scripts.seed_demo import enrollment_event, publish
    from scripts.stack import DATABASES, Ports, Stack, StackConfig

    names = {svc: f"bench_gw_{svc}_{suffix}" for svc in DATABASES}
    dsns = await create_dbs(list(names.values()))
    cleanup.append(lambda: drop_dbs(list(names.values())))
    config = StackConfig(kafka_bootstrap=BENCH_KAFKA, dsn_of={s: dsns[n] for s, n in names.items()},
                         state_dir=ROOT / ".state" / "bench" / f"gw-{suffix}", ports=Ports.offset(20_000),
                         captcha_enabled=False, app_env="test",
                         extra_env={"GATEWAY_COOKIE_SECURE": "false", "GATEWAY_RATE_LIMIT_PER_MINUTE": "100000000",
                                    "LOG_LEVEL": "WARNING"})
    stack = Stack(config)
    stack.start()
    cleanup.append(lambda: asyncio.to_thread(stack.stop))
    await stack.wait_ready(timeout_s=120)
    n = uuid.uuid4().int % 10**8
    start = (date.today().replace(day=1) + timedelta(days=32)).replace(day=1)
    member = dict(enrollment_id=f"34{n:08d}", household_id=f"HH-bench-{suffix}", plan_type="health",
                  coverage_year=start.year, coverage_start=start, plan_name="Bench Silver",
                  carrier="Bench Carrier", premium_cents=25_000, aptc=False,
                  shopped_at=datetime.now(timezone.utc) - timedelta(days=1), first_name="Bench",
                  last_name="Member", date_of_birth=date(1980, 1, 1), ssn=None,
                  email="bench@example.org", phone="6175550100")
    await publish(BENCH_KAFKA, [enrollment_event(**member)])
    gateway = config.ports.url("gateway")
    lookup = {"plan_type": "health", "id_type": "enrollment_id", "id_value": member["enrollment_id"],
              "first_name": "Bench", "last_name": "Member", "date_of_birth": "1980-01-01"}
    async with aiohttp.ClientSession() as http:
        # identity counts lookups per target: wait for it to know the member with a few
        # spaced tries (straight to identity), then look up once through the gateway.
        for attempt, pause_s in enumerate((1, 2, 3, 5, 8, 13, 20, 0)):
            async with http.post(f"{config.ports.url('identity')}/lookups",
                                 json={**lookup, "client_ip": f"198.51.100.{attempt + 1}"}) as r:
                body = await r.json()
                if r.status == 200:
                    break
            await asyncio.sleep(pause_s)
        else:
            raise RuntimeError(f"identity never found the bench member: {body}")
        async with http.post(f"{gateway}/api/v1/lookups", json=lookup) as r:
            body = await r.json()
            if r.status != 201:
                raise RuntimeError(f"lookup through the gateway failed: {body}")
            return gateway, body["billing_account_number"], body["lookup_token"]


async def start_fake_upstreams(suffix: str, cleanup: list, workers: int = 1):
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
           **{f"GATEWAY_{s}_URL": f"http://127.0.0.1:{up_port}" for s in ("IDENTITY", "BILLING", "PAYMENTS", "NOTIFY")}}
    gateway = subprocess.Popen([sys.executable, "-m", "services.gateway"], cwd=ROOT, env=env)
    cleanup.append(lambda: asyncio.to_thread(_stop, gateway))
    url = f"http://127.0.0.1:{gw_port}"
    await wait_http(f"{url}/readyz")
    token = Signer(secret).sign("lookup", {"ban": "7000000001", "plan_type": "health"}, 3600)
    # The floor for any gateway: a bare handler making the same two upstream calls.
    fanout_port = free_port()
    fanout = subprocess.Popen([sys.executable, "-c", FANOUT_SERVER, str(fanout_port),
                               f"http://127.0.0.1:{up_port}"], cwd=ROOT)
    cleanup.append(lambda: asyncio.to_thread(_stop, fanout))
    await wait_http(f"http://127.0.0.1:{fanout_port}/api/v1/billing-accounts/x")
    cleanup.append(f"http://127.0.0.1:{fanout_port}/api/v1/billing-accounts/7000000001")
    return url, "7000000001", token


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--clients", type=int, default=2, help="load generator processes")
    parser.add_argument("--upstreams", choices=("real", "fake"), default="real")
    parser.add_argument("--gateway-url")
    parser.add_argument("--ban")
    parser.add_argument("--token")
    parser.add_argument("--gateway-workers", type=int, default=1, help="fake mode: GATEWAY_WORKERS")
    args = parser.parse_args()

    cleanup: list = []
    suffix = uuid.uuid4().hex[:8]
    bare_port = free_port()
    bare = subprocess.Popen([sys.executable, "-c", BARE_SERVER, str(bare_port)], cwd=ROOT)
    cleanup.append(lambda: asyncio.to_thread(_stop, bare))
    try:
        if args.gateway_url:
            gateway, ban, token = args.gateway_url, args.ban, args.token
            mode = "running gateway"
        elif args.upstreams == "fake":
            gateway, ban, token = await start_fake_upstreams(suffix, cleanup, args.gateway_workers)
            mode = f"gateway ({args.gateway_workers} worker(s)) + fake upstream process"
        else:
            gateway, ban, token = await start_real_stack(suffix, cleanup)
            mode = "whole stack (identity, billing, payments, notify, sandboxes, gateway)"
        await wait_http(f"http://127.0.0.1:{bare_port}/api/v1/billing-accounts/{ban}")
        headers = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{gateway}/api/v1/billing-accounts/{ban}", headers=headers) as r:
                sample = await r.json()
                assert r.status == 200 and not sample.get("notices"), sample
        print(f"mode: {mode}; concurrency {args.concurrency} from {args.clients} client processes; "
              f"{args.duration:.0f} s per round, {args.rounds} rounds; 2 shared cores")
        targets = [("bare", f"http://127.0.0.1:{bare_port}/api/v1/billing-accounts/{ban}"),
                   ("gateway", f"{gateway}/api/v1/billing-accounts/{ban}")]
        fanout_url = next((c for c in cleanup if isinstance(c, str)), None)
        if fanout_url:
            targets.insert(1, ("fan-out", fanout_url))
        results: dict[str, list[dict]] = {name: [] for name, _ in targets}
        for i in range(args.rounds):
            for name, url in targets:
                m = measure(url, headers, args.concurrency, args.clients, args.duration)
                results[name].append(m)
                print(f"round {i + 1} {name:8s} {m['rps']:8.0f} req/s  p50 {m['p50_ms']:6.1f} ms  "
                      f"p99 {m['p99_ms']:6.1f} ms  errors {m['errors']}", flush=True)
        med = {n: {k: statistics.median(r[k] for r in rs) for k in ("rps", "p50_ms", "p99_ms")}
               for n, rs in results.items()}
        print("median:")
        for n in results:
            print(f"  {n:8s} {med[n]['rps']:8.0f} req/s  p50 {med[n]['p50_ms']:6.1f} ms  p99 {med[n]['p99_ms']:6.1f} ms")
        print(f"  gateway / bare throughput ratio: {med['gateway']['rps'] / med['bare']['rps']:.2f}")
        if "fan-out" in med:
            print(f"  gateway / bare two-call fan-out ratio: {med['gateway']['rps'] / med['fan-out']['rps']:.2f}")
        goal = med["gateway"]["rps"] >= 2000 and med["gateway"]["p99_ms"] < 50
        print(f"  goal (>= 2000 req/s, p99 < 50 ms): {'met' if goal else 'not met'}")
    finally:
        for step in reversed([c for c in cleanup if not isinstance(c, str)]):
            try:
                await step()
            except Exception as exc:  # noqa: BLE001 - clean up the rest anyway
                print(f"cleanup: {exc}", file=sys.stderr)


if __name__ == "__main__":
    asyncio.run(main())
