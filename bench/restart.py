"""Benchmark: how long a killed service process takes to be ready again.

    .venv/bin/python bench/restart.py [--service payments] [--rounds 5]

Against the bench servers (`scripts/infra.py up --profile bench`: Kafka 127.0.0.1:29092,
PostgreSQL 127.0.0.1:55434; `--kafka` and `--pg-admin-dsn` point elsewhere), in a database
created for the run and dropped at the end. The service runs as its own process
(`python -m services.<name>`), is started once (migrations applied, its consumer group
formed), then each round is SIGKILLed and started again, as a crash and its supervisor's
restart would: printed per round are the seconds from the new process's start to the first
200 from `/readyz`, and when each step of `Service.start` finished (from its "service
started" log line, seconds since the process began, imports included).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402
import orjson  # noqa: E402

from scripts import infra  # noqa: E402

BENCH_PROFILE = infra.PROFILES["bench"]  # its ports follow TEST_PORT_SHIFT

PORT = 18983 + infra.TEST_PORT_SHIFT


async def wait_ready(url: str, proc: subprocess.Popen, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the service exited with {proc.returncode}")
            try:
                async with http.get(url) as resp:
                    if resp.status == 200:
                        return
            except (TimeoutError, aiohttp.ClientError):
                pass
            await asyncio.sleep(0.02)
    raise TimeoutError("not ready in time")


def start_steps(log_file: Path) -> dict[str, float]:
    """The last "service started" line's steps in the log."""
    steps = {}
    for line in log_file.read_bytes().splitlines():
        if b"service started" in line:
            try:
                steps = orjson.loads(line).get("start_steps_s", {})
            except orjson.JSONDecodeError:
                pass
    return steps


async def main(args: argparse.Namespace) -> None:
    name = f"bench_restart_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(args.pg_admin_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    dsn = args.pg_admin_dsn.rsplit("/", 1)[0] + f"/{name}"
    prefix = args.service.upper()
    work = Path(tempfile.mkdtemp(prefix="bench-restart-"))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", "APP_ENV": "test",
           "KAFKA_BOOTSTRAP": args.kafka, f"{prefix}_DATABASE_URL": dsn,
           f"{prefix}_HTTP_PORT": str(args.port),
           f"{prefix}_CONSUMER_GROUP": f"bench.restart.{uuid.uuid4().hex[:8]}",
           "PAYMENTS_ACH_OUTBOUND_DIR": str(work / "out"), "PAYMENTS_ACH_RETURNS_DIR": str(work / "ret")}
    url = f"http://127.0.0.1:{args.port}/readyz"
    log_file = work / "service.log"
    proc = None
    try:
        rows = []
        for round_no in range(args.rounds + 1):
            with log_file.open("wb") as log:
                started = time.monotonic()
                proc = subprocess.Popen([sys.executable, "-m", f"services.{args.service}"],
                                        env=env, stdout=log, stderr=subprocess.STDOUT)
                await wait_ready(url, proc)
                took = time.monotonic() - started
            steps = start_steps(log_file)
            label = "first start" if round_no == 0 else f"restart {round_no}"
            print(f"{label:12} ready in {took:5.2f} s   steps (s since process start): "
                  + ", ".join(f"{k} {v:.2f}" for k, v in steps.items()), flush=True)
            if round_no:
                rows.append(took)
            await asyncio.sleep(args.pause_s)  # let it work a little, as a live process would
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc = None
        print(f"restart to ready: median {statistics.median(rows):.2f} s, "
              f"max {max(rows):.2f} s over {len(rows)} restarts")
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()
        admin = await asyncpg.connect(args.pg_admin_dsn)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--service", default="payments",
                        choices=("identity", "billing", "payments", "notify"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--port", type=int, default=PORT)
    parser.add_argument("--pause-s", type=float, default=1.0,
                        help="how long each process runs before it is killed")
    parser.add_argument("--kafka", default=os.environ.get("BENCH_KAFKA_BOOTSTRAP", BENCH_PROFILE.bootstrap))
    parser.add_argument("--pg-admin-dsn", default=os.environ.get(
        "BENCH_PG_ADMIN_DSN", BENCH_PROFILE.dsn("postgres")))
    asyncio.run(main(parser.parse_args()))
