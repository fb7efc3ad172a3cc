"""`make run`: Kafka, PostgreSQL, every service, the gateway and demo data; Ctrl-C stops it all.

Data is kept under .state/run between runs, so a second `make run` comes back with the
same members, balances and payments.
"""
from __future__ import annotations

import asyncio
import signal
import sys
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
        except (aiohttp.ClientError, asyncio.TimeoutError):
            accounts = []
        if accounts:
            return accounts
        await asyncio.sleep(0.5)
    return []


def banner(ports: Ports, accounts: list[dict]) -> str:
    bans = ", ".join(f"{a.get('plan_type', '?')}: {a.get('billing_account_number')}"
                     for a in accounts) or "(billing has not opened the accounts yet)"
    return f"""
==========================================================================
 Premium payment portal is running
   Portal (quick pay and member login): {ports.url('gateway')}/
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


async def serve(profile: infra.Profile) -> int:
    await infra.create_topics(profile.bootstrap)
    ports = Ports()
    config = StackConfig(kafka_bootstrap=profile.bootstrap,
                         dsn_of={name: profile.dsn(name) for name in DATABASES},
                         state_dir=profile.state, ports=ports,
                         service_keys=kept_service_keys(profile.state / "service-keys.json"))
    stack = Stack(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        print("[run] starting the sandboxes, identity, billing, payments, notify and the gateway...")
        stack.start()
        await stack.wait_ready(timeout_s=120)
        await publish(profile.bootstrap, demo_enrollments())
        accounts = await wait_for_accounts(ports.url("billing"), "HH-100001", config.signer())
        print(banner(ports, accounts), flush=True)
        await stop.wait()
        return 0
    except Exception as exc:  # noqa: BLE001 - shown to the person who ran make run
        print(f"[run] failed: {exc}", file=sys.stderr)
        return 1
    finally:
        print("[run] stopping...")
        stack.stop()
        infra.kafka_down_and_pg_down(profile)


def main() -> int:
    return asyncio.run(serve(infra.up("run")))


if __name__ == "__main__":
    sys.exit(main())
