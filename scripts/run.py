"""`make run`: Kafka, PostgreSQL, every service, the gateway and demo data; Ctrl-C stops it all.

Data is kept under .state/run between runs, so a second `make run` comes back with the
same members, balances and payments.

Settings in the environment win over the defaults (README, "Running it your way"):
- `KAFKA_BOOTSTRAP`: use that Kafka instead of starting one (`KAFKA_PORT` moves ours);
- `PG_ADMIN_DSN`: use that PostgreSQL (a superuser DSN; the five databases are created if
  missing) instead of starting one (`PG_PORT` moves ours);
- `<SERVICE>_HTTP_PORT`, `SANDBOX_HTTP_PORT`, `SANDBOX_SMTP_PORT`: the processes' ports;
- `PUBLIC_URL`: the portal's address in every link (default: the gateway's own);
- `GATEWAY_CAPTCHA_ENABLED`, and any other setting `scripts/stack.py` gives a process.
"""
from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts import infra  # noqa: E402
from scripts.seed_demo import demo_enrollments, publish  # noqa: E402
from scripts.stack import DATABASES, Ports, Stack, StackConfig, kept_service_keys  # noqa: E402
from shared.service_auth import TokenSigner  # noqa: E402


async def billing_accounts(billing_url: str, household_id: str, signer: TokenSigner) -> list[dict]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as http:
        async with http.get(f"{billing_url}/accounts", params={"household_id": household_id},
                            headers=signer.headers("billing")) as r:
            if r.status != 200:
                return []
            return (await r.json()).get("accounts", [])


async def wait_for_accounts(billing_url: str, household_id: str, signer: TokenSigner,
                            timeout_s: float = 30) -> list[dict]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        try:
            accounts = await billing_accounts(billing_url, household_id, signer)
        except (TimeoutError, aiohttp.ClientError):
            accounts = []
        if accounts:
            return accounts
        await asyncio.sleep(0.5)
    return []


def banner(ports: Ports, accounts: list[dict], public_url: str) -> str:
    bans = ", ".join(f"{a.get('plan_type', '?')}: {a.get('billing_account_number')}"
                     for a in accounts) or "(billing has not opened the accounts yet)"
    return f"""
==========================================================================
 Premium payment portal is running
   Portal (quick pay and member login): {ports.url('gateway')}/
   Links in emails and texts go to:     {public_url}
   API docs:                            {ports.url('gateway')}/api/docs
   Mail catcher (emails sent):          {ports.url('sandboxes')}/mail/

 Demo member for Quick Pay (Step 1 and 2):
   Maria Santos, date of birth 03/15/1984
   Enrollment ID 3300100001 (Health) / 3300100002 (Dental)
   SSN 123-45-6789 (typed twice)
   Billing account numbers: {bans}
   Test bank account: routing 011000015, any account number (ending 01 returns R01)
 A plan shopped an hour ago: Ana Rivera, 11/30/1978, Enrollment ID 3300100005
 Register for a member account on the portal with any of these identities.

 Logs: .state/run/logs/   Stop: Ctrl-C
==========================================================================
"""


def ports_from_environment(env: Mapping[str, str]) -> Ports:
    """The default ports, each replaced by its `<SERVICE>_HTTP_PORT` (or the sandboxes'
    `SANDBOX_HTTP_PORT`, `SANDBOX_SMTP_PORT`) when the environment sets one."""
    names = {f.name: f"{f.name.upper()}_HTTP_PORT" for f in fields(Ports)}
    names.update(sandboxes="SANDBOX_HTTP_PORT", smtp="SANDBOX_SMTP_PORT")
    return Ports(**{name: int(env.get(var, getattr(Ports(), name))) for name, var in names.items()})


def operator_settings(config: StackConfig, env: Mapping[str, str]) -> dict[str, str]:
    """The settings the operator gave in the environment for what the stack would set
    itself: they win (the interpreter's own variables excepted)."""
    own = {"PYTHONPATH", "PYTHONUNBUFFERED", "KAFKA_BOOTSTRAP"}
    return {k: env[k] for k in config.environment() if k in env and k not in own}


async def create_databases(admin_dsn: str) -> dict[str, str]:
    """An outside PostgreSQL: the stack's databases, created where missing."""
    import asyncpg

    conn = await asyncpg.connect(admin_dsn)
    try:
        existing = {r["datname"] for r in await conn.fetch("SELECT datname FROM pg_database")}
        for name in DATABASES:
            if name not in existing:
                await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return {name: admin_dsn.rsplit("/", 1)[0] + "/" + name for name in DATABASES}


async def serve(profile: infra.Profile, bootstrap: str, admin_dsn: str | None) -> int:
    await infra.create_topics(bootstrap)
    env = os.environ
    ports = ports_from_environment(env)
    dsn_of = (await create_databases(admin_dsn) if admin_dsn
              else {name: profile.dsn(name) for name in DATABASES})
    config = StackConfig(kafka_bootstrap=bootstrap, dsn_of=dsn_of, state_dir=profile.state,
                         ports=ports,
                         service_keys=kept_service_keys(profile.state / "service-keys.json"))
    config.extra_env.update(operator_settings(config, env))
    stack = Stack(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        print("[run] starting the sandboxes, identity, billing, payments, notify and the gateway...")
        stack.start()
        await stack.wait_ready(timeout_s=120)
        await publish(bootstrap, demo_enrollments())
        accounts = await wait_for_accounts(ports.url("billing"), "HH-100001", config.signer())
        print(banner(ports, accounts, config.environment()["PUBLIC_URL"]), flush=True)
        await stop.wait()
        return 0
    except Exception as exc:  # noqa: BLE001 - shown to the person who ran make run
        print(f"[run] failed: {exc}", file=sys.stderr)
        return 1
    finally:
        print("[run] stopping...")
        stack.stop()
        if admin_dsn is None:
            infra.pg_down(profile)
        if "KAFKA_BOOTSTRAP" not in os.environ:
            infra.stop_pid(profile.state / "kafka" / "kafka.pid", "Kafka")


def stop_running(profile: infra.Profile, timeout_s: float = 90) -> None:
    """`make stop`: a `make run` still running is asked to stop (SIGTERM, as Ctrl-C would)
    and waited for, so no service is left answering without its servers."""
    pid_file = profile.state / "run.pid"
    pid = infra.pid_alive(pid_file)
    try:  # a file left by a run that died: its pid may be another program's by now
        ours = pid is not None and b"scripts/run.py" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        ours = pid is not None  # no /proc: trust the file
    if not pid or not ours:
        return
    print(f"[run] stopping the running portal (pid {pid})...")
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and infra.pid_alive(pid_file):
        time.sleep(0.5)


def main() -> int:
    profile = infra.PROFILES["run"]
    profile.state.mkdir(parents=True, exist_ok=True)
    if sys.argv[1:] == ["--stop"]:
        stop_running(profile)
        return 0
    pid_file = profile.state / "run.pid"
    pid_file.write_text(f"{os.getpid()}\n")
    try:
        return _run(profile)
    finally:
        pid_file.unlink(missing_ok=True)


def _run(profile: infra.Profile) -> int:
    admin_dsn = os.environ.get("PG_ADMIN_DSN")
    if admin_dsn is None:
        infra.pg_up(profile)
    else:
        print("[run] using the PostgreSQL of PG_ADMIN_DSN")
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP")
    if bootstrap is None:
        infra.kafka_up(profile)
        bootstrap = profile.bootstrap
    else:
        print(f"[run] using the Kafka of KAFKA_BOOTSTRAP ({bootstrap})")
    return asyncio.run(serve(profile, bootstrap, admin_dsn))


if __name__ == "__main__":
    sys.exit(main())
