"""The chaos run: guest payments under seeded faults, then an audit from outside.

    .venv/bin/python bench/chaos.py --seed 7 [--small] [--payments N]

Starts its own servers: the replicated Kafka (scripts/kafka_cluster.py, three nodes from
port 30092, data under .state/chaos/kafka) and a PostgreSQL of its own (127.0.0.1:30432,
.state/chaos/pg), then the stack (scripts/stack.py) with two replicas of payments and
notify (the gateway given both payments URLs), ports 30080-30087, SMTP 30025. It seeds
members, drives guest one-time payments through the gateway's public API (each client
retries on the same Idempotency-Key until it has an answer), and meanwhile injects faults at
moments drawn from the seed: SIGKILL of service processes, SIGKILL of the Kafka broker
leading a partition of payments.v1, a PostgreSQL immediate stop; each is restarted. Then it
lets the system settle, runs the day jobs (`python -m services.payments.cli ach-cutoff`, the
bank sandbox reads the file, `returns`, `settle`) and audits: payments asked = confirmed =
rows = NACHA entries = payment.settled events = ledger entries, one email per payment at the
mail catcher, outboxes empty, consumer lag 0, dead letters. It prints the table and one
verdict line, stops everything it started, and stops itself after 15 minutes at most.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402
from aiokafka import AIOKafkaConsumer  # noqa: E402
from aiokafka.admin import AIOKafkaAdminClient  # noqa: E402

from scripts import infra, kafka_cluster  # noqa: E402
from scripts.stack import DATABASES, PROCESSES, Ports, Stack, StackConfig  # noqa: E402
from shared.calendar import add_banking_days, is_banking_day  # noqa: E402
from shared.kafka import ensure_topics  # noqa: E402
from shared.ops import group_lag  # noqa: E402
from tests.gateway.test_stack_api import BANK, lookup_body  # noqa: E402
from tests.stack import RunningStack  # noqa: E402

STATE = ROOT / ".state" / "chaos"
PORTS = Ports(gateway=30080, identity=30081, billing=30082, payments=30083, notify=30084,
              sandboxes=30085, smtp=30025)
REPLICAS = {"payments-2": ("services.payments", "PAYMENTS", 30086),
            "notify-2": ("services.notify", "NOTIFY", 30087)}
PG = infra.Profile("chaos", 0, 0, 30432)
CLUSTER = kafka_cluster.Cluster("chaos/kafka", 30092)
MODULES = {n: m for n, m, _ in PROCESSES}
HARD_LIMIT_S = 15 * 60


def say(msg: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Infra:
    kafka_bootstrap = CLUSTER.bootstrap


# ---------------------------------------------------------------- processes
class Chaos:
    def __init__(self, seed: int, small: bool, payments: int) -> None:
        self.rng = random.Random(seed)
        self.seed, self.small, self.n = seed, small, payments
        self.faults: list[str] = []
        # The services' Kafka client (faststream) takes one bootstrap address, not a list:
        # they start from node 1, which is never the broker killed (metadata then names all
        # three, so a running service follows leaders to any node).
        env = {**CLUSTER.environment(), "KAFKA_BOOTSTRAP": CLUSTER.address(1),
               "GATEWAY_PAYMENTS_URL": f"{PORTS.url('payments')},http://127.0.0.1:{REPLICAS['payments-2'][2]}",
               "GATEWAY_COOKIE_SECURE": "false", "IDENTITY_LOOKUP_IP_LIMIT": "100000",
               "GATEWAY_SENSITIVE_RATE_LIMIT_PER_MINUTE": "100000"}
        self.config = StackConfig(kafka_bootstrap=CLUSTER.address(1),
                                  dsn_of={n: PG.dsn(n) for n in DATABASES},
                                  state_dir=STATE / "stack", ports=PORTS, captcha_enabled=False,
                                  app_env="test", extra_env=env)
        self.stack = Stack(self.config)

    def env_of(self, name: str) -> dict[str, str]:
        env = {**os.environ, **self.config.environment()}
        if name in REPLICAS:
            _, prefix, port = REPLICAS[name]
            env[f"{prefix}_HTTP_PORT"] = str(port)
        return env

    def url_of(self, name: str) -> str:
        return f"http://127.0.0.1:{REPLICAS[name][2]}" if name in REPLICAS else PORTS.url(name)

    def start(self) -> None:
        self.stack.start()
        for name, (module, _, _) in REPLICAS.items():
            self.stack.start_one(name, module, self.env_of(name))

    def module_of(self, name: str) -> str:
        return REPLICAS[name][0] if name in REPLICAS else MODULES[name]

    def kill(self, name: str) -> None:
        proc = self.stack.procs.pop(name)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    async def wait_ready(self, names: list[str], timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        pending = set(names)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while pending:
                for name in sorted(pending):
                    try:
                        async with http.get(f"{self.url_of(name)}/readyz") as r:
                            if r.status == 200:
                                pending.discard(name)
                    except (TimeoutError, aiohttp.ClientError):
                        pass
                if pending and time.monotonic() > deadline:
                    raise TimeoutError(f"not ready: {sorted(pending)}")
                await asyncio.sleep(0.2)

    # ------------------------------------------------------------ faults
    def plan(self, window_s: float) -> list[tuple[float, str]]:
        """The seed's faults and their moments (seconds into the drive)."""
        kills = ["payments", "payments-2", "notify", "notify-2", "billing", "gateway", "identity"]
        if not self.small:
            kills += ["payments", "payments-2", "notify", "billing", "payments"]
        kinds = [f"kill {k}" for k in kills] + ["kill broker leading payments.v1", "postgres immediate stop"]
        self.rng.shuffle(kinds)
        moments = sorted(self.rng.uniform(1, window_s) for _ in kinds)
        return list(zip(moments, kinds))

    async def inject(self, kind: str) -> None:
        down_s = self.rng.uniform(0.5, 3)
        started = time.monotonic()
        if kind == "kill broker leading payments.v1":
            leaders = await kafka_cluster.partition_leaders(CLUSTER.bootstrap, "payments.v1")
            partition = self.rng.choice(sorted(p for p, v in leaders.items() if v["leader"] != 1))
            node = leaders[partition]["leader"]
            kafka_cluster.kill_node(CLUSTER, node)
            await asyncio.sleep(down_s + 3)
            kafka_cluster.start_node(CLUSTER, node)
            await kafka_cluster.wait_ready(CLUSTER, (node,))
            kind = f"{kind}[{partition}] (node {node})"
        elif kind == "postgres immediate stop":
            subprocess.run(infra.as_pg_user([str(infra.pg_bindir() / "pg_ctl"), "-D", str(PG.state / "pg"),
                                             "-m", "immediate", "stop"]), capture_output=True)
            await asyncio.sleep(down_s)
            await asyncio.to_thread(infra.pg_up, PG)
        else:
            name = kind.split()[1]
            self.kill(name)
            await asyncio.sleep(down_s)
            self.stack.start_one(name, self.module_of(name), self.env_of(name))
            await self.wait_ready([name])
        self.faults.append(f"{kind}: back in {time.monotonic() - started:.1f} s")
        say(self.faults[-1])

    async def faults_during(self, window_s: float) -> None:
        t0 = time.monotonic()
        for at, kind in self.plan(window_s):
            await asyncio.sleep(max(0.0, t0 + at - time.monotonic()))
            try:
                await self.inject(kind)
            except Exception as exc:  # noqa: BLE001 - a fault that could not be injected is reported
                self.faults.append(f"{kind}: NOT INJECTED ({exc!r})")
                say(self.faults[-1])


# ---------------------------------------------------------------- clients
async def retrying(http: aiohttp.ClientSession, method: str, url: str, *, ok: tuple[int, ...],
                   deadline: float, **kw) -> tuple[int, dict, int]:
    """The call until it is answered with one of `ok` (same body, same headers every time)."""
    tries = 0
    while True:
        tries += 1
        try:
            async with http.request(method, url, **kw) as r:
                if r.status in ok:
                    return r.status, await r.json(), tries
                if r.status < 500 and r.status not in (404, 409, 429):
                    raise RuntimeError(f"{method} {url}: {r.status} {await r.text()}")
        except (TimeoutError, aiohttp.ClientError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{method} {url}: no answer after {tries} tries")
        await asyncio.sleep(0.3 + random.random() * 0.4)


async def pay(http: aiohttp.ClientSession, member: dict, deadline: float) -> dict:
    _, found, _ = await retrying(http, "POST", f"{PORTS.url('gateway')}/api/v1/lookups",
                                 json=lookup_body(member), ok=(201,), deadline=deadline)
    body = {"billing_account_number": found["billing_account_number"], "kind": "one_time",
            "amount": "25.00", "method": BANK,
            "contact": {"email": member["email"], "email_confirmation": member["email"],
                        "phone": member["phone"]}}
    headers = {"Authorization": f"Bearer {found['lookup_token']}", "Idempotency-Key": str(uuid.uuid4())}
    status, paid, tries = await retrying(http, "POST", f"{PORTS.url('gateway')}/api/v1/payments",
                                         json=body, headers=headers, ok=(200, 201), deadline=deadline)
    return {"confirmation": paid["confirmation_number"], "payment_id": paid["payment_id"],
            "replayed": status == 200, "tries": tries, "email": member["email"]}


# ---------------------------------------------------------------- audit
async def one(dsn: str, sql: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


async def all_lag() -> dict[str, dict]:
    admin = AIOKafkaAdminClient(bootstrap_servers=CLUSTER.bootstrap)
    await admin.start()
    try:
        groups = [g[0] for g in await admin.list_consumer_groups()]
        topics = {}
        for g in groups:
            offsets = await admin.list_consumer_group_offsets(g)
            topics[g] = tuple(sorted({tp.topic for tp in offsets}))
    finally:
        await admin.close()
    return await group_lag(CLUSTER.bootstrap, {g: t for g, t in topics.items() if t})


async def settled_events() -> tuple[int, int]:
    """payment.settled records on payments.v1: (records, distinct event ids)."""
    reader = AIOKafkaConsumer("payments.v1", bootstrap_servers=CLUSTER.bootstrap,
                              auto_offset_reset="earliest", enable_auto_commit=False,
                              group_id=None)
    await reader.start()
    records, ids = 0, set()
    try:
        while True:
            batch = await reader.getmany(timeout_ms=3000)
            if not batch:
                break
            for msgs in batch.values():
                for m in msgs:
                    h = dict(m.headers or ())
                    if h.get("event_type") == b"payment.settled":
                        records += 1
                        ids.add(h.get("event_id"))
    finally:
        await reader.stop()
    return records, len(ids)


async def backlog() -> tuple[int, int]:
    outbox = sum([await one(PG.dsn(db), "SELECT count(*) FROM outbox") for db in DATABASES
                  if await one(PG.dsn(db), "SELECT count(*) FROM pg_tables WHERE tablename = 'outbox'")])
    lag = sum(g["lag"] for g in (await all_lag()).values())
    return outbox, lag


async def settle(timeout_s: float = 120) -> tuple[int, int]:
    deadline = time.monotonic() + timeout_s
    while True:
        outbox, lag = await backlog()
        if (outbox == 0 and lag == 0) or time.monotonic() > deadline:
            return outbox, lag
        await asyncio.sleep(1)


def cli(config: StackConfig, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "services.payments.cli", *args], cwd=ROOT,
                          env={**os.environ, **config.environment()}, capture_output=True,
                          text=True, timeout=180)
    if done.returncode:
        raise RuntimeError(f"payments cli {args}: {done.stdout}{done.stderr}")
    return done.stdout


async def day_jobs(config: StackConfig) -> None:
    """Cutoff on each banking day until every payment is originated, the bank reads the
    files, returns the next banking day, settlement once the effective dates have come."""
    pay_dsn = PG.dsn("payments")
    day = datetime.now(ZoneInfo("America/New_York")).date()
    for _ in range(10):
        if is_banking_day(day):
            await asyncio.to_thread(cli, config, "ach-cutoff", "--date", day.isoformat())
            if not await one(pay_dsn, "SELECT count(*) FROM payments WHERE status = 'pending'"):
                break
        day = add_banking_days(day, 1)
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{PORTS.url('sandboxes')}/bank/poll") as r:
            r.raise_for_status()
    await asyncio.to_thread(cli, config, "returns", "--date", add_banking_days(day, 1).isoformat())
    await asyncio.to_thread(cli, config, "settle", "--date", add_banking_days(day, 5).isoformat())


def nacha_entries(state: Path) -> int:
    return sum(1 for f in (state / "ach" / "outbound").glob("*") if f.is_file() and not f.name.endswith(".part")
               for line in f.read_text(errors="replace").splitlines() if line.startswith("6"))


async def emails(paid: list[dict], state: Path) -> tuple[int, int, int]:
    """(payers with at least one email, messages to the payers, repeats by Message-ID), from
    the mail catcher's stored copies (its API does not show the Message-ID header)."""
    messages = [json.loads(f.read_bytes()) for f in (state / "sandbox" / "mail").glob("*.json")]
    payers = {p["email"] for p in paid}
    mine = [m for m in messages if set(m["to"]) & payers]
    by_id: dict[str, int] = {}
    for m in mine:
        by_id[m["message_id"]] = by_id.get(m["message_id"], 0) + 1
    reached = {t for m in mine for t in m["to"]} & payers
    return len(reached), len(mine), sum(c - 1 for c in by_id.values())


async def dead_letters() -> list[str]:
    out = []
    for db in DATABASES:
        if await one(PG.dsn(db), "SELECT count(*) FROM pg_tables WHERE tablename = 'dead_letters'"):
            conn = await asyncpg.connect(PG.dsn(db))
            try:
                for r in await conn.fetch("SELECT * FROM dead_letters"):
                    row = dict(r)
                    out.append(f"{db}: {row.get('consumer_group')} {row.get('topic')} "
                               f"{row.get('event_type', '')} {row.get('error', '')}")
            finally:
                await conn.close()
    return out


# ---------------------------------------------------------------- the run
async def run(chaos: Chaos, window_s: float) -> bool:
    await ensure_topics(CLUSTER.bootstrap, replication_factor=kafka_cluster.REPLICATION_FACTOR)
    chaos.start()
    await chaos.wait_ready([n for n, _, _ in PROCESSES] + list(REPLICAS))
    say("stack ready; seeding members")
    running = RunningStack(chaos.stack, Infra())
    members = []
    for i in range(0, chaos.n, 10):
        members += await asyncio.gather(*(running.seed_member(shopped_hours_ago=5)
                                          for _ in range(min(10, chaos.n - i))))
    say(f"{len(members)} members seeded; driving {chaos.n} payments with faults")
    deadline = time.monotonic() + window_s + 180
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        faults = asyncio.create_task(chaos.faults_during(window_s))
        paid = []
        pace = window_s / chaos.n

        async def client(i: int, member: dict) -> None:
            await asyncio.sleep(i * pace)
            paid.append(await pay(http, member, deadline))

        results = await asyncio.gather(*(client(i, m) for i, m in enumerate(members)),
                                       return_exceptions=True)
        await faults
    failed = [r for r in results if isinstance(r, Exception)]
    say(f"{len(paid)} payments answered ({len(failed)} clients gave up); settling")
    await chaos.wait_ready([n for n, _, _ in PROCESSES] + list(REPLICAS))
    outbox, lag = await settle()
    say(f"settled: outbox {outbox}, lag {lag}; running the day jobs")
    await day_jobs(chaos.config)
    outbox, lag = await settle()
    pay_dsn, bill_dsn = PG.dsn("payments"), PG.dsn("billing")
    records, distinct_settled = await settled_events()
    reached, mails, repeats = await emails(paid, chaos.config.state_dir)
    dead = await dead_letters()
    rows = [
        ("payments asked", chaos.n),
        ("confirmed (distinct confirmation numbers)", len({p["confirmation"] for p in paid})),
        ("payment rows (payments)", await one(pay_dsn, "SELECT count(*) FROM payments")),
        ("NACHA entries (outbound files)", nacha_entries(chaos.config.state_dir)),
        ("payment.settled events (distinct ids)", distinct_settled),
        ("billing ledger payment entries", await one(
            bill_dsn, "SELECT count(*) FROM ledger WHERE kind = 'payment'")),
    ]
    n = chaos.n
    money_ok = all(v == n for _, v in rows) and records == distinct_settled
    table = rows + [
        ("payment.settled records on payments.v1", records),
        ("payers with an email", reached),
        ("emails to payers / repeats by Message-ID", f"{mails} / {repeats}"),
        ("outbox rows left (all services)", outbox),
        ("consumer lag (all groups)", lag),
        ("dead letters", len(dead)),
        ("client tries (total) / replayed answers", f"{sum(p['tries'] for p in paid)} / "
                                                    f"{sum(p['replayed'] for p in paid)}"),
    ]
    print(f"\nchaos run, seed {chaos.seed}{' (small)' if chaos.small else ''}: "
          f"{len(chaos.faults)} faults")
    for f in chaos.faults:
        print(f"  - {f}")
    width = max(len(k) for k, _ in table)
    for k, v in table:
        print(f"  {k:<{width}}  {v}")
    for d in dead:
        print(f"  dead letter: {d}")
    # notify's documented bound (docs/operations.md): a SIGKILL mid-send may repeat up to
    # 2 x NOTIFY_SMTP_CONNECTIONS emails (16 by default); a database outage repeats none.
    bound = 16 * sum(1 for f in chaos.faults if f.startswith("kill notify"))
    ok = repeats <= bound and money_ok and reached == n and outbox == 0 and lag == 0 and not dead and not failed
    print(("VERDICT: PASS" if ok else "VERDICT: FAIL") + f" - {n} payments, each exactly once; "
          f"{repeats} repeated email(s) (bound {bound}); {len(chaos.faults)} faults", flush=True)
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--small", action="store_true", help="a reduced run, under 3 minutes")
    parser.add_argument("--payments", type=int, default=None)
    args = parser.parse_args()
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    n = args.payments or (12 if args.small else 80)
    window_s = 30.0 if args.small else 180.0
    signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(TimeoutError("15-minute limit")))
    signal.alarm(HARD_LIMIT_S)
    chaos = Chaos(args.seed, args.small, n)
    ok = False
    try:
        kafka_cluster.down(CLUSTER)
        infra.pg_down(PG)
        shutil.rmtree(STATE, ignore_errors=True)
        kafka_cluster.up(CLUSTER)
        infra.pg_up(PG)
        ok = asyncio.run(run(chaos, window_s))
    finally:
        signal.alarm(0)
        chaos.stack.stop()
        kafka_cluster.down(CLUSTER)
        infra.pg_down(PG)
        print(json.dumps({"seed": args.seed, "faults": chaos.faults}), file=sys.stderr)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
