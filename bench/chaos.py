"""The chaos run: payments and autopay set-ups under seeded faults, then an audit from outside.

    .venv/bin/python bench/chaos.py --seed 7 [--small] [--payments N] [--port-shift N]

Starts its own servers: the replicated Kafka (scripts/kafka_cluster.py, three nodes from
port 30092, data under .state/chaos/kafka) and a PostgreSQL of its own (127.0.0.1:30432,
.state/chaos/pg), then the stack (scripts/stack.py) with two replicas of every service
(identity, billing, payments, notify, the gateway), ports 30080-30090, SMTP 30025; every
port moves by --port-shift (default TEST_PORT_SHIFT). Every process is given all three
brokers in KAFKA_BOOTSTRAP. It seeds members, then drives guest one-time payments (one of
them from an account the bank sandbox returns R01) and autopay set-ups through both
gateways' public API; each client retries on the same Idempotency-Key, on the other gateway,
until it has an answer. Meanwhile it injects faults at moments drawn from the seed: SIGKILL
of every service process, timed to land while requests are in flight; the answers of some
requests lost on their way back; SIGKILL of Kafka node 1 (the first bootstrap address,
a service restarted while it is down) and of the node leading a payments.v1 partition; a
PostgreSQL immediate stop. Then it lets the system settle and runs the day jobs as
operations does (the cutoff, the bank reads the files, `day` for each business date that
matters, the R01 retries, the autopay draft date's `day` SIGKILLed mid-file and run again,
settlement) and audits: asked = confirmed = rows = NACHA entries = settled events = ledger
credits, the returns, one email per notification, outboxes empty, lag 0, dead letters,
billing's `reconcile`. It prints the table and one verdict line, stops everything it
started, and stops itself after 15 minutes at most.
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
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from bench import chaos_audit as audit  # noqa: E402
from scripts import infra, kafka_cluster  # noqa: E402
from scripts.stack import DATABASES, PROCESSES, Ports, Stack, StackConfig  # noqa: E402
from shared.calendar import add_banking_days, is_banking_day  # noqa: E402
from shared.kafka import PLAINTEXT, ensure_topics  # noqa: E402
from tests.gateway.test_stack_api import BANK, lookup_body  # noqa: E402
from tests.stack import RunningStack  # noqa: E402

STATE = ROOT / ".state" / "chaos"  # --name moves it to .state/<name>
SERVICES = ("identity", "billing", "payments", "notify", "gateway")
MODULES = {n: m for n, m, _ in PROCESSES}
PREFIXES = {n: p for n, _, p in PROCESSES}
HARD_LIMIT_S = 15 * 60
FAULT_SETTLE_S = 5.0
R01_ACCOUNT = "123456701"  # the bank sandbox returns R01 for an account ending in 01
AMOUNT = "25.00"


def say(msg: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def bank(account: str) -> dict:
    return {**BANK, "account_number": account, "account_number_confirmation": account}


class Servers:
    """The run's ports (all moved by `shift`), Kafka cluster and PostgreSQL."""

    def __init__(self, shift: int) -> None:
        self.ports = Ports(gateway=30080 + shift, identity=30081 + shift, billing=30082 + shift,
                           payments=30083 + shift, notify=30084 + shift, sandboxes=30085 + shift,
                           smtp=30025 + shift)
        # The second replica of each service: 30086-30090.
        self.second = {f"{s}-2": 30086 + shift + i for i, s in enumerate(SERVICES)}
        self.pg = infra.Profile(STATE.name, 0, 0, 30432 + shift)
        self.cluster = kafka_cluster.Cluster(f"{STATE.name}/kafka", 30092 + shift)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.second[name]}" if name in self.second else self.ports.url(name)

    def urls(self, service: str) -> str:
        return f"{self.url(service)},{self.url(service + '-2')}"


# ---------------------------------------------------------------- clients
class Clients:
    """What the clients did, as they saw it: tries, requests in flight, answers lost to a
    fault (a dropped connection or a 5xx), answers replayed (`Idempotent-Replayed: true`)."""

    def __init__(self, servers: Servers, deadline: float) -> None:
        self.gateways = [servers.url("gateway"), servers.url("gateway-2")]
        self.deadline = deadline
        self.tries = self.lost = self.replayed = self.in_flight = 0
        self.cut: list[str] = []  # the answers the run cut off on purpose, and what came next
        self.lost_at: list[float] = []  # when each lost try ended (monotonic seconds)

    async def call(self, http: aiohttp.ClientSession, method: str, path: str, *, ok: tuple[int, ...],
                   first: int, cut: bool = False, **kw) -> tuple[int, dict]:
        """The call until it is answered with one of `ok`: the same body and headers every
        time, each try on the next gateway (as a load balancer retrying would). With `cut`,
        the first answer is lost on its way back (the client drops it unread, as when a
        connection breaks after the server has done the work) and the client asks again."""
        attempt = 0
        mine: int | None = None  # this call's line in `cut`, once its answer was cut off
        while True:
            url = self.gateways[(first + attempt) % 2] + path
            attempt += 1
            self.tries += 1
            self.in_flight += 1
            try:
                async with http.request(method, url, **kw) as r:
                    body = await r.json(content_type=None) if r.content_length != 0 else {}
                    replayed = r.headers.get("Idempotent-Replayed") == "true"
                    if r.status in ok and cut:
                        cut = False
                        self.cut.append(f"{path}: {r.status} on try {attempt} lost")
                        mine = len(self.cut) - 1
                    elif r.status in ok:
                        self.replayed += replayed
                        if mine is not None:
                            self.cut[mine] += f", then {r.status}{' replayed' if replayed else ''} on try {attempt}"
                        return r.status, body
                    elif r.status >= 500:
                        self.lost += 1
                        self.lost_at.append(time.monotonic())
                    elif r.status not in (404, 409, 429):
                        raise RuntimeError(f"{method} {url}: {r.status} {body}")
            except (TimeoutError, aiohttp.ClientError):
                self.lost += 1
                self.lost_at.append(time.monotonic())
            finally:
                self.in_flight -= 1
            if time.monotonic() > self.deadline:
                raise TimeoutError(f"{method} {path}: no answer after {attempt} tries")
            await asyncio.sleep(0.3 + random.random() * 0.4)

    async def lookup(self, http, member: dict, first: int) -> dict:
        _, found = await self.call(http, "POST", "/api/v1/lookups", json=lookup_body(member),
                                   ok=(201,), first=first)
        return found

    async def pay(self, http, member: dict, first: int, cut: bool) -> dict:
        found = await self.lookup(http, member, first)
        body = {"billing_account_number": found["billing_account_number"], "kind": "one_time",
                "amount": AMOUNT, "method": bank(member["account"]),
                "contact": {"email": member["email"], "email_confirmation": member["email"],
                            "phone": member["phone"]}}
        headers = {"Authorization": f"Bearer {found['lookup_token']}", "Idempotency-Key": str(uuid.uuid4())}
        _, paid = await self.call(http, "POST", "/api/v1/payments", json=body, headers=headers,
                                  ok=(200, 201), first=first, cut=cut)
        return {"confirmation": paid["confirmation_number"], "email": member["email"]}

    async def autopay(self, http, member: dict, first: int, cut: bool) -> dict:
        found = await self.lookup(http, member, first)
        ban, auth = found["billing_account_number"], {"Authorization": f"Bearer {found['lookup_token']}"}
        _, terms = await self.call(http, "GET", f"/api/v1/billing-accounts/{ban}/autopay/terms",
                                   headers=auth, ok=(200,), first=first)
        body = {"method": bank(member["account"]),
                "contact": {"email": member["email"], "email_confirmation": member["email"],
                            "phone": member["phone"]}}
        _, mandate = await self.call(http, "POST", f"/api/v1/billing-accounts/{ban}/autopay", json=body,
                                     headers={**auth, "Idempotency-Key": str(uuid.uuid4())},
                                     ok=(200, 201), first=first, cut=cut)
        return {"confirmation": mandate["confirmation_number"], "email": member["email"],
                "first_draft_date": date.fromisoformat(terms["first_draft_date"])}


# ---------------------------------------------------------------- processes and faults
class Chaos:
    def __init__(self, seed: int, small: bool, payments: int, shift: int) -> None:
        self.rng = random.Random(seed)
        self.seed, self.small, self.n = seed, small, payments
        self.mandates = 2 if small else 10
        self.s = s = Servers(shift)
        self.faults: list[str] = []
        # From each fault's injection until it is over and FAULT_SETTLE_S more (a restarted
        # gateway's pooled connections, a broker's partitions moving back).
        self.windows: list[tuple[float, float]] = []
        self.clients: Clients | None = None
        env = {**s.cluster.environment(),
               **{f"GATEWAY_{svc.upper()}_URL": s.urls(svc) for svc in SERVICES if svc != "gateway"},
               "GATEWAY_COOKIE_SECURE": "false", "IDENTITY_LOOKUP_IP_LIMIT": "100000",
               "GATEWAY_SENSITIVE_RATE_LIMIT_PER_MINUTE": "100000",
               # its ledger checks count one debit per payment in the files of the run's
               # days; account validation's entries and waiting days are not under test here
               "PAYMENTS_ACCOUNT_VALIDATION": "none"}
        self.config = StackConfig(kafka_bootstrap=s.cluster.bootstrap,
                                  dsn_of={n: s.pg.dsn(n) for n in DATABASES},
                                  state_dir=STATE / "stack", ports=s.ports, captcha_enabled=False,
                                  app_env="test", extra_env=env)
        self.stack = Stack(self.config)

    @property
    def processes(self) -> list[str]:
        return [n for n, _, _ in PROCESSES] + list(self.s.second)

    def env_of(self, name: str) -> dict[str, str]:
        service = name.removesuffix("-2")
        env = {**os.environ, **self.config.environment(service)}
        if name in self.s.second:
            env[f"{PREFIXES[service]}_HTTP_PORT"] = str(self.s.second[name])
        return env

    def start(self, name: str | None = None) -> None:
        if name is None:
            self.stack.start()
            for second in self.s.second:
                self.start(second)
            return
        self.stack.start_one(name, MODULES[name.removesuffix("-2")], self.env_of(name))

    def kill(self, name: str) -> None:
        proc = self.stack.procs.pop(name)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    async def wait_ready(self, names: list[str], timeout_s: float = 180) -> None:
        deadline = time.monotonic() + timeout_s
        pending = set(names)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while pending:
                for name in sorted(pending):
                    try:
                        async with http.get(f"{self.s.url(name)}/readyz") as r:
                            if r.status == 200:
                                pending.discard(name)
                    except (TimeoutError, aiohttp.ClientError):
                        pass
                if pending and time.monotonic() > deadline:
                    raise TimeoutError(f"not ready: {sorted(pending)}")
                await asyncio.sleep(0.2)

    def plan(self) -> list[tuple[float, str]]:
        """The seed's faults, in order, each with its moment: seconds after its round of
        clients starts. The full run kills both replicas of every service and some again;
        the small run one replica (the seed picks which) of the gateway and of payments."""
        if self.small:  # the request path only: the gateway and payments (a replica each)
            kills = [svc if self.rng.random() < 0.5 else f"{svc}-2" for svc in ("gateway", "payments")]
            kinds = ["kill broker node 1"]
        else:
            kills = [*SERVICES, *self.s.second, "payments", "notify", "gateway-2", "billing"]
            kinds = ["kill broker node 1", "kill broker leading payments.v1"]
        kinds = [f"kill {k}" for k in kills] + kinds + ["postgres immediate stop"]
        self.rng.shuffle(kinds)
        return [(self.rng.uniform(0.05, 0.6), kind) for kind in kinds]

    async def when_in_flight(self, max_wait_s: float = 5.0) -> int:
        """Wait (a while at most) until a client request is in flight; how many are."""
        deadline = time.monotonic() + max_wait_s
        while self.clients is not None and self.clients.in_flight == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        await asyncio.sleep(self.rng.uniform(0, 0.05))
        return self.clients.in_flight if self.clients else 0

    async def restart(self, name: str, down_s: float) -> None:
        self.kill(name)
        await asyncio.sleep(down_s)
        self.start(name)
        await self.wait_ready([name])

    async def inject(self, kind: str) -> None:
        down_s = self.rng.uniform(0.5, 3)
        started = time.monotonic()
        c = self.s.cluster
        if kind.startswith("kill broker"):
            meanwhile = None
            if kind == "kill broker node 1":
                node = 1
                meanwhile = self.rng.choice(self.processes[1:])
            else:
                leaders = await kafka_cluster.partition_leaders(c.bootstrap, "payments.v1")
                partition = self.rng.choice(sorted(leaders))
                node = leaders[partition]["leader"]
                kind = f"{kind}[{partition}] (node {node})"
            flying = await self.when_in_flight()
            kafka_cluster.kill_node(c, node)
            await asyncio.sleep(down_s + 1)
            if meanwhile:  # a process starting while the first bootstrap broker is down
                await self.restart(meanwhile, 0.5)
                kind += f" (the first bootstrap address; {meanwhile} killed and started meanwhile)"
            kafka_cluster.start_node(c, node)
            await kafka_cluster.wait_ready(c, (node,))
            kind += f" ({flying} requests in flight)"
        elif kind == "postgres immediate stop":
            flying = await self.when_in_flight()
            subprocess.run(infra.as_pg_user([str(infra.pg_bindir() / "pg_ctl"), "-D", str(self.s.pg.state / "pg"),
                                             "-m", "immediate", "stop"]), capture_output=True)
            await asyncio.sleep(down_s)
            await asyncio.to_thread(infra.pg_up, self.s.pg)
            kind += f" ({flying} requests in flight)"
        else:
            name = kind.split()[1]
            flying = await self.when_in_flight()
            await self.restart(name, down_s)
            kind += f" ({flying} requests in flight)"
        self.faults.append(f"{kind}: back in {time.monotonic() - started:.1f} s")
        self.windows.append((started, time.monotonic() + FAULT_SETTLE_S))
        say(self.faults[-1])

    def lost_outside_faults(self, lost_at: list[float]) -> int:
        return sum(1 for t in lost_at if not any(a <= t <= b for a, b in self.windows))

    async def inject_reported(self, kind: str) -> None:
        try:
            await self.inject(kind)
        except Exception as exc:  # noqa: BLE001 - a fault that could not be injected is reported
            self.faults.append(f"{kind}: NOT INJECTED ({exc!r})")
            say(self.faults[-1])

    # ------------------------------------------------------------ day jobs
    def cli(self, service: str, *args: str, kill_on: str | None = None) -> tuple[int, str]:
        """`python -m services.<service>.cli ARGS` as an operator runs it; with `kill_on`, the
        process is SIGKILLed as soon as it prints a line containing that text."""
        proc = subprocess.Popen([sys.executable, "-m", f"services.{service}.cli", *args], cwd=ROOT,
                                env={**os.environ, **self.config.environment(service)},
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        lines = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if kill_on and kill_on in line:
                os.killpg(proc.pid, signal.SIGKILL)
                break
        proc.wait(timeout=180)
        return proc.returncode, "".join(lines)

    async def job(self, service: str, *args: str) -> str:
        code, out = await asyncio.to_thread(self.cli, service, *args)
        if code not in (0,):
            raise RuntimeError(f"{service} cli {args} exited {code}: {out}")
        return out

    async def bank_reads_files(self) -> None:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{self.s.ports.url('sandboxes')}/bank/poll") as r:
                r.raise_for_status()

    async def day_jobs(self, first_draft: date) -> str:
        """Operations' business days: the cutoff on each banking day until every one-time
        payment is originated; then, the bank having read each file, `day` (returns,
        settlement, autopay, cutoff) for the days that matter: the R01 return and its two
        retries, and the autopay draft date, whose run is SIGKILLed once mid-file (as soon as
        its cutoff starts the file) and run again; then the last returns and settlement (`day`
        five banking days on).
        Returns what happened to the killed run."""
        pay_dsn = self.s.pg.dsn("payments")
        day = datetime.now(ZoneInfo("America/New_York")).date()
        for _ in range(10):
            if is_banking_day(day):
                await self.job("payments", "ach-cutoff", "--date", day.isoformat())
                if not await audit.one(pay_dsn, "SELECT count(*) FROM payments WHERE status = 'pending'"):
                    break
            day = add_banking_days(day, 1)
        days = sorted({add_banking_days(day, i) for i in (1, 2, 3)} | {first_draft})
        killed = "not run"
        for d in days:
            await self.bank_reads_files()
            if d == first_draft:
                code, out = await asyncio.to_thread(self.cli, "payments", "day", "--date", d.isoformat(),
                                                    kill_on="debits into")
                _, _, parts = audit.ach_files(self.config.state_dir)
                recorded = await audit.one(pay_dsn, "SELECT count(*) FROM ach_files WHERE business_date = $1", d)
                killed = (f"day {d} SIGKILLed at its cutoff (exit {code}): file recorded {recorded}, "
                          f".part left {parts}; run again")
                self.faults.append(f"kill payments.cli day --date {d} mid-file: {killed.split(': ', 1)[1]}")
                say(self.faults[-1])
            await self.job("payments", "day", "--date", d.isoformat())
        await self.bank_reads_files()  # then the last returns and settlement, in one run
        await self.job("payments", "day", "--date", add_banking_days(days[-1], 5).isoformat())
        return killed


# ---------------------------------------------------------------- the run
async def drive(chaos: Chaos, payers: list[dict], holders: list[dict]) -> tuple[list, list, list]:
    """The clients in rounds, one per fault: a round's clients start (a fifth of a second
    apart), the fault lands at its seeded moment into the round (once a request is in
    flight), and the next round starts when the faulted process is back."""
    plan = chaos.plan()
    deadline = time.monotonic() + 600
    clients = chaos.clients = Clients(chaos.s, deadline)
    people = [(m, False) for m in payers] + [(m, True) for m in holders]
    chaos.rng.shuffle(people)
    # Payments' answers are the ones lost: a replayed payment says so (Idempotent-Replayed).
    cut = set(chaos.rng.sample([i for i, (_, a) in enumerate(people) if not a], 1 if chaos.small else 5))
    rounds = [people[i::len(plan) + 1] for i in range(len(plan) + 1)]
    paid: list[dict] = []
    mandates: list[dict] = []
    tasks: list[asyncio.Task] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
        async def client(delay_s: float, i: int, member: dict, is_autopay: bool) -> None:
            await asyncio.sleep(delay_s)
            if is_autopay:
                mandates.append(await clients.autopay(http, member, i % 2, i in cut))
            else:
                paid.append(await clients.pay(http, member, i % 2, i in cut))

        index = {id(m): i for i, (m, _) in enumerate(people)}
        for r, group in enumerate(rounds):
            tasks += [asyncio.create_task(client(0.2 * k, index[id(m)], m, a))
                      for k, (m, a) in enumerate(group)]
            if r < len(plan):
                at, kind = plan[r]
                await asyncio.sleep(at)
                await chaos.inject_reported(kind)
        results = await asyncio.gather(*tasks, return_exceptions=True)
    chaos.faults += [f"answer lost on its way back: {c}" for c in clients.cut]
    return paid, mandates, [r for r in results if isinstance(r, Exception)]


async def seed(chaos: Chaos) -> tuple[list[dict], list[dict]]:
    running = RunningStack(chaos.stack, Infra(chaos.s.cluster.bootstrap))
    people = []
    total = chaos.n + chaos.mandates
    for i in range(0, total, 10):
        people += await asyncio.gather(*(running.seed_member(shopped_hours_ago=5)
                                         for _ in range(min(10, total - i))))
    for i, m in enumerate(people):
        m["account"] = f"{4000000 + i:07d}{chaos.rng.randrange(11, 99):02d}"
        if m["account"][-2:] in ("55", "66"):  # no notification of change either
            m["account"] = m["account"][:-2] + "20"
    people[0]["account"] = R01_ACCOUNT  # the one payer the bank returns
    return people[:chaos.n], people[chaos.n:]


class Infra:
    def __init__(self, bootstrap: str) -> None:
        self.kafka_bootstrap = bootstrap
        self.kafka_auth = PLAINTEXT


async def run(chaos: Chaos) -> bool:
    s = chaos.s
    await ensure_topics(s.cluster.bootstrap, replication_factor=kafka_cluster.REPLICATION_FACTOR)
    chaos.start()
    await chaos.wait_ready(chaos.processes)
    say("stack ready (two replicas of every service); seeding members")
    payers, holders = await seed(chaos)
    say(f"{len(payers)} payers and {len(holders)} autopay members seeded; driving with faults")
    paid, mandates, failed = await drive(chaos, payers, holders)
    say(f"{len(paid)} payments and {len(mandates)} set-ups answered ({len(failed)} clients gave up); settling")
    await chaos.wait_ready(chaos.processes)
    outbox, lag = await settle(s)
    say(f"settled: outbox {outbox}, lag {lag}; running the day jobs")
    first_draft = min((m["first_draft_date"] for m in mandates), default=None)
    killed = await chaos.day_jobs(first_draft) if first_draft else "no mandate"
    outbox, lag = await settle(s)
    code, out = await asyncio.to_thread(chaos.cli, "billing", "reconcile")
    reconcile = "clean" if code == 0 else f"exit {code}: {out.strip().splitlines()[-1:]}"
    rows = await audit_rows(chaos, paid, mandates, outbox, lag, reconcile)
    return report(chaos, rows, failed, killed)


async def settle(s: Servers, timeout_s: float = 180) -> tuple[int, int]:
    deadline = time.monotonic() + timeout_s
    while True:
        outbox, lag = await audit.backlog(s.cluster.bootstrap, s.pg.dsn)
        if (outbox == 0 and lag == 0) or time.monotonic() > deadline:
            return outbox, lag
        await asyncio.sleep(1)


async def audit_rows(chaos: Chaos, paid: list, mandates: list, outbox: int, lag: int,
                     reconcile: str) -> list[audit.Row]:
    pay, bill, notify = (chaos.s.pg.dsn(d) for d in ("payments", "billing", "notify"))
    n, m = chaos.n, chaos.mandates
    retries = 2  # an R01 is presented again at most twice (PAYMENTS_ACH_RETRIES_MAX)
    rows_total = n + m + retries
    events = await audit.payment_events(chaos.s.cluster.bootstrap)
    settled_records, settled = events.get("payment.settled", (0, 0))
    returned_records, returned = events.get("payment.returned", (0, 0))
    files, entries, parts = audit.ach_files(chaos.config.state_dir)
    people = {p["email"] for p in paid} | {p["email"] for p in mandates}
    messages, ids, repeats = audit.mail(people, chaos.config.state_dir)
    sent = await audit.one(notify, """SELECT count(*) FROM notifications WHERE channel = 'email'
                                      AND status = 'sent' AND recipient = ANY($1::text[])""", list(people))
    unsent = await audit.one(notify, """SELECT count(*) FROM notifications WHERE channel = 'email'
                                        AND status <> 'sent' AND recipient = ANY($1::text[])""", list(people))
    reached = len({t for f in (chaos.config.state_dir / "sandbox" / "mail").glob("*.json")
                   for t in json.loads(f.read_bytes())["to"]} & people)
    dead = await audit.dead_letters(chaos.s.pg.dsn)
    chaos.dead = dead
    c = chaos.clients
    assert c is not None
    outside = chaos.lost_outside_faults(c.lost_at)
    # notify's documented bound (docs/operations.md): a SIGKILL mid-send may repeat up to
    # 2 x NOTIFY_SMTP_CONNECTIONS emails (16 by default); a database outage repeats none.
    bound = 16 * sum(1 for f in chaos.faults if f.startswith("kill notify"))
    chaos.bound = bound
    R = audit.Row
    return [
        R("one-time payments asked", n),
        R("  confirmed (distinct confirmation numbers)", len({p["confirmation"] for p in paid}), n),
        R("  payment rows, not retries (payments)", await audit.one(
            pay, "SELECT count(*) FROM payments WHERE kind = 'one_time' AND retry_of IS NULL"), n),
        R("autopay set-ups asked", m),
        R("  confirmed (distinct AUT- numbers)", len({p["confirmation"] for p in mandates}), m),
        R("  active mandates (payments)", await audit.one(
            pay, "SELECT count(*) FROM mandates WHERE status = 'active'"), m),
        R("  drafts (payment rows of a mandate)", await audit.one(
            pay, "SELECT count(*) FROM payments WHERE mandate_id IS NOT NULL AND retry_of IS NULL"), m),
        R("R01 retries (payment rows)", await audit.one(
            pay, "SELECT count(*) FROM payments WHERE retry_of IS NOT NULL"), retries),
        R("payment rows in all", await audit.one(pay, "SELECT count(*) FROM payments"), rows_total),
        R("NACHA entries (outbound files)", entries, rows_total),
        R("returned R01 (payment rows)", await audit.one(
            pay, "SELECT count(*) FROM payments WHERE status = 'returned' AND return_code = 'R01'"), 1 + retries),
        R("payment.returned events (distinct ids / records)", f"{returned} / {returned_records}",
          f"{1 + retries} / {1 + retries}"),
        R("payment.settled events (distinct ids / records)", f"{settled} / {settled_records}",
          f"{rows_total - 1 - retries} / {rows_total - 1 - retries}"),
        R("billing: payments credited (distinct in ledger)", await audit.one(
            bill, "SELECT count(DISTINCT payment_id) FROM ledger WHERE kind = 'payment'"), rows_total - 1 - retries),
        R("billing: returned payments credited", await audit.one(
            bill, "SELECT count(*) FROM payments WHERE returned AND credited"), 0),
        R("ACH files / .part files left", f"{files} / {parts}"),
        R("people with an email (payers, mandate holders)", reached, n + m),
        R("emails: notify sent / distinct Message-IDs received", f"{sent} / {len(ids)}", f"{sent} / {sent}"),
        R("emails not sent (notify)", unsent, 0),
        R("emails received / repeats by Message-ID", f"{messages} / {repeats}"),
        R("outbox rows left (all services)", outbox, 0),
        R("consumer lag (all groups)", lag, 0),
        R("dead letters", len(dead), 0),
        R("billing reconcile", reconcile, "clean"),
        R("client tries / failed while a fault lasted / failed otherwise / replayed",
          f"{c.tries} / {c.lost - outside} / {outside} / {c.replayed}"),
    ]


def report(chaos: Chaos, rows: list[audit.Row], failed: list, killed: str) -> bool:
    print(f"\nchaos run, seed {chaos.seed}{' (small)' if chaos.small else ''}: {len(chaos.faults)} faults")
    for f in chaos.faults:
        print(f"  - {f}")
    audit.print_table(rows)
    for d in chaos.dead:
        print(f"  dead letter: {d}")
    for f in failed:
        print(f"  client gave up: {f!r}")
    repeats = int(str(next(r.value for r in rows if r.label.startswith("emails received"))).split(" / ")[1])
    c = chaos.clients
    replayed = c.replayed if c else 0
    # Every answer cut off was given again on the retry, as a replay of the same payment.
    cut_replayed = bool(c and c.cut) and all(" replayed on try " in line for line in c.cut)
    ok = (all(r.ok for r in rows) and repeats <= chaos.bound and not failed and cut_replayed
          and not any("NOT INJECTED" in f for f in chaos.faults))
    print(("VERDICT: PASS" if ok else "VERDICT: FAIL") + f" - {chaos.n} payments and {chaos.mandates} "
          f"mandates, each exactly once; {replayed} replayed answer(s); {repeats} repeated email(s) "
          f"(bound {chaos.bound}); {len(chaos.faults)} faults", flush=True)
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--small", action="store_true", help="a reduced run, under 3 minutes")
    parser.add_argument("--payments", type=int, default=None)
    parser.add_argument("--name", default="chaos", help="the state folder under .state/ (wiped first)")
    parser.add_argument("--port-shift", type=int, default=int(os.environ.get("TEST_PORT_SHIFT", "0")),
                        help="move every port by this much (default TEST_PORT_SHIFT)")
    args = parser.parse_args()
    global STATE
    STATE = ROOT / ".state" / args.name
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    n = args.payments or (6 if args.small else 80)
    signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(TimeoutError("15-minute limit")))
    signal.alarm(HARD_LIMIT_S)
    started = time.monotonic()
    chaos = Chaos(args.seed, args.small, n, args.port_shift)
    chaos.dead, chaos.bound = [], 0
    ok = False
    try:
        kafka_cluster.down(chaos.s.cluster, discard=True)
        infra.pg_down(chaos.s.pg)
        shutil.rmtree(STATE, ignore_errors=True)
        kafka_cluster.up(chaos.s.cluster)
        infra.pg_up(chaos.s.pg)
        # The limit is kept inside the event loop (the alarm below may land in a task that
        # reports the exceptions of faults and clients): a minute is left for stopping.
        left_s = HARD_LIMIT_S - 60 - (time.monotonic() - started)
        try:
            ok = asyncio.run(asyncio.wait_for(run(chaos), max(left_s, 1)))
        except TimeoutError:
            print(f"VERDICT: FAIL - stopped at the {HARD_LIMIT_S // 60}-minute limit; "
                  f"{len(chaos.faults)} faults so far", flush=True)
    finally:
        signal.alarm(0)
        chaos.stack.stop()
        kafka_cluster.down(chaos.s.cluster, discard=True)
        infra.pg_down(chaos.s.pg)
        print(f"wall time {time.monotonic() - started:.0f} s", flush=True)
        print(json.dumps({"seed": args.seed, "faults": chaos.faults}), file=sys.stderr)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
