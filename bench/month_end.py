"""Benchmark: the 22nd for N households, the whole system running, one pipeline.

    .venv/bin/python bench/month_end.py [--households 2000] [--timeout-s 1800] [--notify-senders 0]

On the bench servers (`scripts/infra.py up --profile bench`, ports moved by TEST_PORT_SHIFT),
in five databases of its own (dropped at the end). Not timed: N households are seeded as
the month before the 22nd left them: billing's accounts and their May invoice (billing's
own invoice cycle for the 5th; the bills' events are taken as sent on the 5th and not
published), payments' projection of what each owes, a bank account (encrypted) and a
recurring mandate, notify's projection of the household's contact. Then every process of
the stack starts (scripts/stack.py: the sandboxes, identity, billing, payments, notify, the
gateway; `--notify-senders N` adds N notify replicas that only send), notify sending to an
SMTP sink in a process of its own that counts what each household receives.

Timed, from the first draft to the last email accepted, every stage as production runs it
(the operator commands of `python -m services.payments.cli`, the same job functions the
scheduler calls; everything else the services do on their own):
  1. autopay: every mandate drafted (payment + payment.submitted in the outbox);
  2. billing records each submitted payment (payments.v1 consumed);
  3. ach-cutoff: the NACHA file of every pending debit;
  4. settle: on the effective date every payment is settled (payment.settled);
  5. billing applies each payment (ledger, payment.applied, balance.changed);
  6. notify records the messages members get (the receipt and the settlement notice);
  7. notify sends them; the sink accepts them.
Each stage's rate is printed with its ratio to a raw ceiling measured in the same run on
the same servers: PostgreSQL batched inserts (the database stages), aiokafka consuming
messages the size of our events (the consuming stages), the SMTP pool sending pre-built
messages to the sink (sending). Then the CPU seconds every process used over the timed
run and over the stage "billing applies payments" alone (from the settle job's start to the
last payment applied; notify works meanwhile too), the peak memory of every process, the
checks that every household got each message exactly once and every payment was applied
once, and a verdict against the goal: 1,000,000 households in under 15 minutes.
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
import orjson  # noqa: E402
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition  # noqa: E402

from bench.cpu import CpuSampler, kafka_pids, postgres_pids, postmaster_pid, process_tree  # noqa: E402
from bench.notify import SmtpSink, smtp_ceiling  # noqa: E402
from scripts import infra  # noqa: E402
from scripts.stack import DATABASES, PROCESSES, Ports, Stack, StackConfig  # noqa: E402
from services.billing.app import MIGRATIONS as BILLING_MIGRATIONS  # noqa: E402
from services.billing.domain.numbers import make_ban  # noqa: E402
from services.billing.service_layer.cycle import invoice_cycle  # noqa: E402
from services.notify.app import MIGRATIONS as NOTIFY_MIGRATIONS  # noqa: E402
from services.payments.adapters.crypto import AccountCipher  # noqa: E402
from services.payments.app import MIGRATIONS as PAYMENTS_MIGRATIONS  # noqa: E402
from services.payments.config import Settings as PaymentsSettings  # noqa: E402
from shared.contracts import topics  # noqa: E402
from shared.db import create_pool, migrate  # noqa: E402
from shared.kafka import ensure_topics  # noqa: E402

PROFILE = infra.PROFILES["bench"]
CYCLE_DAY = date(2027, 4, 5)     # bills May 2027, due April 23
DRAFT_DAY = date(2027, 4, 22)    # the 22nd, a Thursday
SETTLE_DAY = date(2027, 4, 23)   # the debits' effective date
GOAL_HOUSEHOLDS, GOAL_S = 1_000_000, 15 * 60
MESSAGES_PER_HOUSEHOLD = 2       # payment_received and payment_settled, by email
CHUNK = 50_000


# ------------------------------------------------------------------ the SMTP sink

def _sink_process(counts, total, last_at, ports) -> None:
    """Just enough SMTP (pipelining too) to accept mail and count, per household, the
    messages addressed to it (households are m<i>@example.org); others count in total only."""
    import uvloop

    class Session(SmtpSink):
        """bench/notify.py's sink, counting each message for the households it is sent to."""

        def connection_made(self, transport) -> None:  # noqa: ANN001
            super().connection_made(transport)
            self.rcpt: list[int] = []

        def recipient(self, address: bytes) -> None:
            local = address.split(b"@", 1)[0]
            if address.endswith(b"@example.org") and local[:1] == b"m" and local[1:].isdigit():
                i = int(local[1:])
                if i < len(counts):
                    self.rcpt.append(i)

        def accepted(self) -> None:
            for i in self.rcpt:
                counts[i] += 1
            self.rcpt = []
            total.value += 1
            last_at.value = time.time()

    async def serve() -> None:
        server = await asyncio.get_running_loop().create_server(Session, "127.0.0.1", 0)
        ports.put(server.sockets[0].getsockname()[1])
        await asyncio.Event().wait()
    uvloop.install()
    asyncio.run(serve())


class Sink:
    """The sink's process and what it counted (shared memory, no locks: one writer)."""

    def __init__(self, households: int) -> None:
        ctx = mp.get_context("spawn")
        self.counts = ctx.RawArray("B", households)
        self.total = ctx.RawValue("q", 0)
        self.last_at = ctx.RawValue("d", 0.0)
        ports = ctx.Queue()
        self.process = ctx.Process(target=_sink_process, daemon=True,
                                   args=(self.counts, self.total, self.last_at, ports))
        self.process.start()
        self.port = ports.get(timeout=30)

    def household_messages(self) -> int:
        # Copied out first: summing the shared array itself takes each byte through ctypes,
        # a seventh of a core at a million households when asked once a second.
        return sum(bytes(self.counts))

    def close(self) -> None:
        self.process.terminate()
        self.process.join(5)


# ------------------------------------------------------------------ seeding (not timed)

def household(i: int, suffix: str) -> str:
    return f"HH-ME-{suffix}-{i}"


async def seed_billing(pool: asyncpg.Pool, n: int, suffix: str) -> list[str]:
    bans = [make_ban(i + 1) for i in range(n)]
    for start in range(0, n, CHUNK):
        part = range(start, min(n, start + CHUNK))
        async with pool.acquire() as conn, conn.transaction():
            await conn.copy_records_to_table("accounts", records=[
                (bans[i], household(i, suffix), "health", False) for i in part],
                columns=["billing_account_number", "household_id", "plan_type", "aptc"])
            await conn.copy_records_to_table("lines", records=[
                (bans[i], 2027, f"E{i}", "Silver", "Carrier", 250_00 + i % 500,
                 date(2027, 1, 1), "active") for i in part],
                columns=["billing_account_number", "coverage_year", "enrollment_id", "plan_name",
                         "carrier", "premium_cents", "coverage_start", "status"])
    await pool.execute("ANALYZE")
    issued = await invoice_cycle(pool, CYCLE_DAY)
    assert issued["invoices_issued"] == n, issued
    # The bills' events went out on the 5th; the 22nd starts with an empty outbox.
    await pool.execute("DELETE FROM outbox")
    return bans


async def seed_payments(pool: asyncpg.Pool, bans: list[str], owed: dict[str, int], suffix: str) -> None:
    settings = PaymentsSettings()
    cipher = AccountCipher(settings.account_key_id, settings.account_key, settings.account_old_keys)
    for start in range(0, len(bans), CHUNK):
        rows_owed, methods, mandates = [], [], []
        for i in range(start, min(len(bans), start + CHUNK)):
            ban, method_id = bans[i], uuid.uuid4()
            account = f"{i:010d}00"  # ends in 00: the bank sandbox pays it
            blob, kid = cipher.encrypt(account, method_id)
            cents = owed[ban]
            rows_owed.append((ban, "health", household(i, suffix), cents))
            methods.append((method_id, ban, "checking", "Bench Member", "011000015", blob, kid,
                            account[-4:], uuid.uuid4().hex))
            mandates.append((uuid.uuid4(), ban, "health", method_id,
                             {"email": f"m{i}@example.org", "phone": None, "language": "en"},
                             "bench authorization", account[-4:]))
        async with pool.acquire() as conn, conn.transaction():
            await conn.copy_records_to_table("owed_accounts", records=rows_owed, columns=[
                "billing_account_number", "plan_type", "household_id", "total_balance_cents"])
            await conn.copy_records_to_table("methods", records=methods, columns=[
                "method_id", "billing_account_number", "type", "holder_name", "routing_number",
                "account_ciphertext", "key_id", "last4", "fingerprint"])
            await conn.executemany(
                """INSERT INTO mandates (mandate_id, billing_account_number, plan_type, method_id,
                   contact, authorization_text, authorized_at, authorized_method_last4)
                   VALUES ($1, $2, $3, $4, $5, $6, now(), $7)""", mandates)
    await pool.execute(
        """UPDATE owed_accounts SET lines = jsonb_build_array(jsonb_build_object(
             'coverage_year', 2027, 'balance_cents', total_balance_cents,
             'current_premium_cents', total_balance_cents, 'due_date', '2027-04-23'))""")
    await pool.execute("VACUUM ANALYZE")


async def seed_notify(pool: asyncpg.Pool, bans: list[str], suffix: str) -> None:
    for start in range(0, len(bans), CHUNK):
        part = range(start, min(len(bans), start + CHUNK))
        async with pool.acquire() as conn, conn.transaction():
            await conn.copy_records_to_table("household_contacts", records=[
                (household(i, suffix), "Member", f"m{i}@example.org", None, "en") for i in part],
                columns=["household_id", "first_name", "email", "phone", "language"])
            await conn.copy_records_to_table("accounts", records=[
                (bans[i], household(i, suffix), "health", False) for i in part],
                columns=["billing_account_number", "household_id", "plan_type", "aptc"])
    await pool.execute("VACUUM ANALYZE")


async def skip_old_events() -> None:
    """Every consumer group starts at the end of every topic: events of earlier runs on the
    same servers are not this run's work."""
    await ensure_topics(PROFILE.bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=PROFILE.bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()  # noqa: SLF001
        parts = [TopicPartition(t, p) for t in topics.TOPICS
                 for p in consumer.partitions_for_topic(t) or ()]
        consumer.assign(parts)
        await consumer.seek_to_end(*parts)
        ends = {tp: await consumer.position(tp) for tp in parts}
    finally:
        await consumer.stop()
    for group in topics.Groups.all():
        committer = AIOKafkaConsumer(bootstrap_servers=PROFILE.bootstrap, group_id=group,
                                     enable_auto_commit=False)
        await committer.start()
        try:
            committer.assign(parts)
            await committer.commit(ends)
        finally:
            await committer.stop()


# ------------------------------------------------------------------ raw ceilings

async def pg_insert_ceiling(dsn: str, rows: int) -> float:
    """Rows/s of batched multi-row INSERTs (5,000 a transaction) into an indexed table."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("""CREATE TEMP TABLE ceiling (id uuid PRIMARY KEY, ban text NOT NULL,
                              amount_cents bigint NOT NULL, payload jsonb NOT NULL)""")
        payload = orjson.dumps({"x": "y" * 300}).decode()
        started = time.perf_counter()
        for start in range(0, rows, 5000):
            count = min(5000, rows - start)
            async with conn.transaction():
                await conn.execute(
                    """INSERT INTO ceiling SELECT * FROM unnest($1::uuid[], $2::text[],
                       $3::bigint[], $4::jsonb[])""",
                    [uuid.uuid4() for _ in range(count)], [f"7{i:09d}" for i in range(count)],
                    [100 + i for i in range(count)], [payload] * count)
        return rows / (time.perf_counter() - started)
    finally:
        await conn.close()


async def kafka_consume_ceiling(count: int, size: int) -> float:
    """Messages/s aiokafka reads back (a consumer group, batches) of `count` of `size` bytes."""
    topic = f"bench.month-end.raw.{uuid.uuid4().hex[:8]}"
    await ensure_topics(PROFILE.bootstrap, extra={topic: 6})
    producer = AIOKafkaProducer(bootstrap_servers=PROFILE.bootstrap, acks="all",
                                enable_idempotence=True, linger_ms=5, max_batch_size=256 * 1024)
    await producer.start()
    try:
        payload = b"x" * size
        futures = [await producer.send(topic, payload, key=f"7{i:09d}".encode()) for i in range(count)]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=PROFILE.bootstrap,
                                group_id=f"bench.raw.{uuid.uuid4().hex[:8]}",
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        seen, started = 0, 0.0
        while seen < count:
            batches = await consumer.getmany(timeout_ms=1000, max_records=1000)
            started = started or time.perf_counter()
            seen += sum(len(r) for r in batches.values())
            await consumer.commit()
        return count / (time.perf_counter() - started)
    finally:
        await consumer.stop()


# ------------------------------------------------------------------ the timed pipeline

class Progress:
    """Counts polled once a second: when each stage began and when it was complete."""

    def __init__(self, targets: dict[str, int]) -> None:
        self.targets = targets
        self.first: dict[str, float] = {}
        self.done: dict[str, float] = {}
        self.last: dict[str, int] = {}

    def see(self, name: str, count: int, now: float) -> None:
        self.last[name] = count
        if count and name not in self.first:
            self.first[name] = now
        if count >= self.targets[name] and name not in self.done:
            self.done[name] = now

    def complete(self) -> bool:
        return len(self.done) == len(self.targets)


class CpuWindows:
    """CPU seconds per process over the timed run (`whole`) and over the stage "billing
    applies payments" (`applies`: from the settle job's start to the last payment applied).
    The payments CLI jobs are processes of their own, counted by what they used (`run_job`)."""

    def __init__(self, stack: Stack, sink: Sink) -> None:
        groups: dict[str, Any] = {
            name: partial(process_tree, proc.pid) for name, proc in stack.procs.items()}
        groups["PostgreSQL"] = partial(postgres_pids, PROFILE.state)
        groups["Kafka"] = kafka_pids(PROFILE.state)
        groups["SMTP sink"] = [sink.process.pid]
        groups["this bench"] = [os.getpid()]
        # Backends that end mid-run (pool connections come and go) count by what the
        # postmaster reaped of them.
        reapers = {"PostgreSQL": postmaster_pid(PROFILE.state)}
        self.whole = CpuSampler(groups, reapers)
        self.applies = CpuSampler(groups, reapers)
        self.figures: dict[str, dict[str, float]] = {}

    def stop_applies(self) -> None:
        if "applies" not in self.figures:
            self.figures["applies"] = self.applies.stop()


async def watch(progress: Progress, billing: asyncpg.Pool, notify: asyncpg.Pool, sink: Sink,
                stop: asyncio.Event, cpu: CpuWindows) -> None:
    """The sink's count (shared memory) once a second; the databases' counts, which scan
    every payment and notification, once every `db_every_s`: at a million households a
    count a second cost PostgreSQL up to most of a core, taken from the run it measures. A
    stage's end is then known to within that interval."""
    db_every_s = max(1.0, min(10.0, progress.targets["billing records"] / 100_000))
    db_stages = ("billing records", "billing applies", "notify records")
    next_db = 0.0
    while not stop.is_set():
        now = time.time()
        if now >= next_db and not all(stage in progress.done for stage in db_stages):
            next_db = now + db_every_s
            row = await billing.fetchrow("""SELECT count(*) FILTER (WHERE submitted) AS submitted,
                                                   count(*) FILTER (WHERE credited) AS credited
                                            FROM payments""")
            progress.see("billing records", row["submitted"], now)
            progress.see("billing applies", row["credited"], now)
            if "billing applies" in progress.done:
                cpu.stop_applies()
            progress.see("notify records",
                         await notify.fetchval("SELECT count(*) FROM notification_state"), now)
        progress.see("sink accepts", sink.household_messages(), time.time())
        try:
            await asyncio.wait_for(stop.wait(), 1.0)
        except TimeoutError:
            pass


def run_job(config: StackConfig, job: str, day: date) -> tuple[float, float, float, float]:
    """`python -m services.payments.cli JOB --date DAY` as an operator runs it: when it
    started and finished (wall clock), its peak RSS in MB and the CPU seconds it used."""
    env = {**os.environ, **config.environment("payments"), "LOG_LEVEL": "WARNING"}
    started = time.time()
    proc = subprocess.Popen([sys.executable, "-m", "services.payments.cli", job, "--date",
                             day.isoformat()], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    _, status, usage = os.wait4(proc.pid, 0)
    finished = time.time()
    output = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"payments cli {job} failed ({proc.returncode}):\n{output[-3000:]}")
    return started, finished, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def peak_rss_mb(pid: int) -> float:
    """VmHWM of a process and its children (the gateway's workers, say), in MB."""
    total = 0.0
    for p in process_tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            pass
    return total


async def create_databases(suffix: str) -> dict[str, str]:
    admin = await asyncpg.connect(PROFILE.dsn("postgres"))
    try:
        for name in DATABASES:
            await admin.execute(f'CREATE DATABASE "me_{name}_{suffix}"')
    finally:
        await admin.close()
    return {name: PROFILE.dsn(f"me_{name}_{suffix}") for name in DATABASES}


async def drop_databases(suffix: str) -> None:
    admin = await asyncpg.connect(PROFILE.dsn("postgres"))
    try:
        for name in DATABASES:
            await admin.execute(f'DROP DATABASE IF EXISTS "me_{name}_{suffix}" WITH (FORCE)')
    finally:
        await admin.close()


async def run(n: int, timeout_s: float, smtp_connections: int, notify_senders: int = 0) -> dict:
    suffix = uuid.uuid4().hex[:8]
    # Stopped (SIGTERM, or Ctrl-C), the run is cancelled: the stack's processes, the sink
    # and the run's databases go with it, as at its end.
    this = asyncio.current_task()
    assert this is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, this.cancel)
    dsn_of = await create_databases(suffix)
    sink = Sink(n)
    stack: Stack | None = None
    pools: dict[str, asyncpg.Pool] = {}
    try:
        for name, migrations in (("billing", BILLING_MIGRATIONS), ("payments", PAYMENTS_MIGRATIONS),
                                 ("notify", NOTIFY_MIGRATIONS)):
            pools[name] = await create_pool(dsn_of[name], 1, 4)
            await migrate(pools[name], migrations)
        print(f"seeding {n:,} households (not timed)...", flush=True)
        t = time.perf_counter()
        bans = await seed_billing(pools["billing"], n, suffix)
        owed = {r["billing_account_number"]: r["owed"] for r in await pools["billing"].fetch(
            """SELECT billing_account_number, sum(amount_cents - paid_cents)::bigint AS owed
               FROM invoices GROUP BY 1""")}
        await seed_payments(pools["payments"], bans, owed, suffix)
        await seed_notify(pools["notify"], bans, suffix)
        await skip_old_events()
        print(f"  seeded in {time.perf_counter() - t:.0f} s", flush=True)

        print("raw ceilings on the same servers (medians of 3)...", flush=True)
        ceil_pg = statistics.median([await pg_insert_ceiling(dsn_of["gateway"], 50_000) for _ in range(3)])
        ceil_kafka = statistics.median([await kafka_consume_ceiling(50_000, 700) for _ in range(3)])
        ceil_smtp = statistics.median([await smtp_ceiling(sink.port, 3000, smtp_connections)
                                       for _ in range(3)])
        print(f"  PostgreSQL batched INSERT {ceil_pg:,.0f} rows/s; aiokafka consume {ceil_kafka:,.0f} "
              f"msgs/s; SMTP pool to the sink {ceil_smtp:,.0f} msgs/s", flush=True)

        ports = Ports.offset(22_000 + infra.TEST_PORT_SHIFT)
        config = StackConfig(
            kafka_bootstrap=PROFILE.bootstrap, dsn_of=dsn_of,
            state_dir=ROOT / ".state" / "bench" / f"month-end-{suffix}", ports=ports,
            captcha_enabled=False, app_env="test",
            extra_env={"LOG_LEVEL": "WARNING", "GATEWAY_COOKIE_SECURE": "false",
                       # The bench runs the day's jobs itself, for its dates.
                       "BILLING_RUN_SCHEDULER": "false", "PAYMENTS_RUN_SCHEDULER": "false",
                       "NOTIFY_RUN_SCHEDULER": "false",
                       "NOTIFY_SMTP_PORT": str(sink.port),
                       "NOTIFY_SMTP_CONNECTIONS": str(smtp_connections)})
        stack = Stack(config)
        stack.start()
        for i in range(notify_senders):  # replicas that only send, as an SRE adds them
            stack.start_one(f"notify sender {i + 1}", "services.notify", {
                **os.environ, **config.environment("notify"), "NOTIFY_RUN_CONSUMERS": "false",
                "NOTIFY_RUN_RELAY": "false", "NOTIFY_HTTP_PORT": str(ports.notify + 50 + i)})
        await stack.wait_ready(timeout_s=180, names=tuple(n for n, _, _ in PROCESSES))
        await asyncio.sleep(1.0)
        for name, proc in stack.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n" + stack.tail(name))
        print(f"stack ready ({1 + notify_senders} notify process(es)); the 22nd begins", flush=True)

        progress = Progress({"billing records": n, "billing applies": n,
                             "notify records": MESSAGES_PER_HOUSEHOLD * n,
                             "sink accepts": MESSAGES_PER_HOUSEHOLD * n})
        stop = asyncio.Event()
        cpu = CpuWindows(stack, sink)
        cpu.whole.start()
        watcher = asyncio.create_task(watch(progress, pools["billing"], pools["notify"], sink, stop,
                                            cpu))
        jobs: dict[str, tuple[float, float, float]] = {}
        job_cpu: dict[str, float] = {}
        for job, day in (("autopay", DRAFT_DAY), ("ach-cutoff", DRAFT_DAY), ("settle", SETTLE_DAY)):
            if job == "settle":
                cpu.applies.start()
            started, finished, rss, job_cpu[job] = await asyncio.to_thread(run_job, config, job, day)
            jobs[job] = (started, finished, rss)
            print(f"  {job}: {finished - started:.1f} s", flush=True)
        t0 = jobs["autopay"][0]
        deadline = time.time() + timeout_s
        while not progress.complete() and time.time() < deadline:
            await asyncio.sleep(0.5)
        cpu.figures["whole"] = cpu.whole.stop()
        # Anything sent twice would arrive soon after the last message: wait a little.
        await asyncio.sleep(5)
        stop.set()
        await watcher
        cpu.stop_applies()  # the stage never completed: up to now
        for job, seconds in job_cpu.items():
            cpu.figures["whole"][f"payments cli {job}"] = seconds
        cpu.figures["applies"]["payments cli settle"] = job_cpu["settle"]
        memory = {name: peak_rss_mb(proc.pid) for name, proc in stack.procs.items()}
        memory.update({f"payments cli {job}": rss for job, (_, _, rss) in jobs.items()})
        memory["SMTP sink"] = peak_rss_mb(sink.process.pid)
        memory["this bench"] = peak_rss_mb(os.getpid())

        counts = bytes(sink.counts)
        checks = {
            "households with exactly 2 emails": sum(1 for c in counts if c == MESSAGES_PER_HOUSEHOLD),
            "households with fewer": sum(1 for c in counts if c < MESSAGES_PER_HOUSEHOLD),
            "households with more (sent twice)": sum(1 for c in counts if c > MESSAGES_PER_HOUSEHOLD),
            "payments applied by billing": await pools["billing"].fetchval(
                "SELECT count(*) FROM payments WHERE credited"),
            "ledger payment entries": await pools["billing"].fetchval(
                "SELECT count(DISTINCT payment_id) FROM ledger WHERE kind = 'payment'"),
            "accounts still owing": await pools["billing"].fetchval(
                "SELECT count(*) FROM invoices WHERE paid_cents < amount_cents"),
            "notifications not sent": await pools["notify"].fetchval(
                "SELECT count(*) FROM notifications WHERE status <> 'sent'"),
        }
        last_email = sink.last_at.value
        return {"n": n, "notify_senders": notify_senders, "jobs": jobs, "progress": progress,
                "t0": t0, "last_email": last_email,
                "ceilings": {"pg": ceil_pg, "kafka": ceil_kafka, "smtp": ceil_smtp},
                "memory": memory, "cpu": cpu.figures, "checks": checks,
                "complete": progress.complete()}
    finally:
        if stack is not None:
            await asyncio.to_thread(stack.stop)
        for pool in pools.values():
            await pool.close()
        sink.close()
        await drop_databases(suffix)


def report(r: dict) -> dict:
    """Print the run's figures; returns them as plain data (bench/report.py keeps them)."""
    n, c, p, jobs = r["n"], r["ceilings"], r["progress"], r["jobs"]
    stages = []

    def stage(name: str, items: int, seconds: float, ceiling: float, ceiling_name: str) -> None:
        rate = items / seconds if seconds > 0 else float("nan")
        stages.append({"stage": name, "items": items, "seconds": seconds, "rate": rate,
                       "ratio": rate / ceiling, "ceiling": ceiling_name})

    for job, label in (("autopay", "autopay drafts (payments)"), ("ach-cutoff", "ACH cutoff (NACHA file)"),
                       ("settle", "settlement (payment.settled)")):
        started, finished, _ = jobs[job]
        stage(label, n, finished - started, c["pg"], "PostgreSQL INSERT")
    for name, label, ceiling, ceiling_name in (
            ("billing records", "billing records submissions", c["kafka"], "aiokafka consume"),
            ("billing applies", "billing applies payments", c["kafka"], "aiokafka consume"),
            ("notify records", "notify records messages", c["kafka"], "aiokafka consume"),
            ("sink accepts", "notify sends, sink accepts", c["smtp"], "SMTP pool")):
        if name in p.first:
            end = p.done.get(name, time.time())
            # A stage is timed from the start of the job that feeds it to its last item.
            feed = {"billing records": "autopay", "billing applies": "settle",
                    "notify records": "autopay", "sink accepts": "autopay"}[name]
            stage(label, p.last[name], end - jobs[feed][0], ceiling, ceiling_name)
    wall = (r["last_email"] or time.time()) - r["t0"]
    e2e = n / wall
    # Per household the slowest raw path is two emails through the SMTP pool.
    e2e_ceiling = min(c["pg"], c["kafka"], c["smtp"] / MESSAGES_PER_HOUSEHOLD)
    print()
    senders = r.get("notify_senders", 0)
    print(f"month-end benchmark: {n:,} households, the whole stack on 2 shared cores"
          + (f", notify with {senders} sender-only replica(s)" if senders else ""))
    print(f"  raw ceilings (same run): PostgreSQL INSERT {c['pg']:,.0f} rows/s, aiokafka consume "
          f"{c['kafka']:,.0f} msgs/s, SMTP pool {c['smtp']:,.0f} msgs/s")
    print(f"  {'stage':<32} {'items':>10} {'seconds':>8} {'per s':>9}  ratio to ceiling")
    for s in stages:
        print(f"  {s['stage']:<32} {s['items']:>10,} {s['seconds']:>8.1f} {s['rate']:>9,.0f}  "
              f"{s['ratio']:.4f} of {s['ceiling']}")
    print(f"  WALL first draft -> last email accepted: {wall:.1f} s = {e2e:,.0f} households/s, "
          f"{e2e / e2e_ceiling:.2f} of the raw path ({e2e_ceiling:,.0f}/s)")
    print("  CPU seconds per process: the timed run | the stage billing applies payments:")
    whole, applies = r["cpu"]["whole"], r["cpu"]["applies"]
    for name, seconds in sorted(whole.items(), key=lambda kv: -kv[1]):
        print(f"    {name:<24} {seconds:8.1f} | {applies.get(name, 0.0):6.1f}")
    print(f"    {'all':<24} {sum(whole.values()):8.1f} | {sum(applies.values()):6.1f}")
    print("  peak memory (RSS high-water mark) per process:")
    for name, mb in r["memory"].items():
        print(f"    {name:<24} {mb:8.0f} MB")
    print("  checks:")
    for name, value in r["checks"].items():
        print(f"    {name:<36} {value:>10,}")
    checks = r["checks"]
    once = (r["complete"] and checks["households with exactly 2 emails"] == n
            and checks["payments applied by billing"] == n and checks["ledger payment entries"] == n
            and checks["accounts still owing"] == 0)
    projected = GOAL_HOUSEHOLDS / e2e
    fast = wall < GOAL_S if n >= GOAL_HOUSEHOLDS else projected < GOAL_S
    scope = "" if n >= GOAL_HOUSEHOLDS else f" (projected at this rate: {projected / 60:.1f} min)"
    verdict = ("MET" if once and fast else "NOT MET") + \
        f": 1,000,000 households in under 15 minutes{scope}; every message sent once: " + \
        ("yes" if once else "NO")
    print(f"  verdict: {verdict}")
    return {"n": n, "notify_senders": senders, "wall_s": wall, "households_per_s": e2e, "e2e_ratio": e2e / e2e_ceiling,
            "stages": stages, "ceilings": c, "memory": r["memory"], "cpu": r["cpu"],
            "checks": checks,
            "verdict": verdict}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=2000)
    parser.add_argument("--timeout-s", type=float, default=1800)
    parser.add_argument("--smtp-connections", type=int, default=8, help="notify's SMTP pool size")
    parser.add_argument("--notify-senders", type=int, default=0, choices=range(0, 5),
                        help="notify replicas that only send (no consumer, no relay), beside the one")
    parser.add_argument("--json", type=Path, help="also write the figures here (bench/report.py)")
    args = parser.parse_args(argv)
    infra.up("bench")
    figures = report(asyncio.run(run(args.households, args.timeout_s, args.smtp_connections,
                                   args.notify_senders)))
    if args.json:
        args.json.write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2))
    return figures


if __name__ == "__main__":
    main()
