"""python -m services.billing.cli JOB [--date YYYY-MM-DD]: run a billing job on demand.

Jobs: invoice-cycle, binder-deadline, delinquency (for a business date; a second run for
the same date changes nothing) and reconcile (exit 1 when the ledger disagrees).
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date
from pathlib import Path

from services.billing.config import Settings
from services.billing.service_layer import jobs
from shared import ops
from shared.calendar import business_today
from shared.db import create_pool, migrate

# The service's migrations (as app.MIGRATIONS), without importing the whole service.
MIGRATIONS = Path(__file__).parent / "migrations"
JOBS = {"invoice-cycle": jobs.invoice_cycle, "binder-deadline": jobs.binder_deadline,
        "delinquency": jobs.delinquency}


def say(line: str) -> None:
    print(line, flush=True)


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.billing.cli")
    parser.add_argument("job", choices=[*JOBS, "reconcile"])
    parser.add_argument("--date", type=date.fromisoformat, default=None,
                        help="business date (America/New_York); default today")
    args = parser.parse_args(argv)
    settings = Settings()
    pool = await create_pool(settings.database_url, 1, 4)
    try:
        await migrate(pool, MIGRATIONS)
        if args.job == "reconcile":
            problems = await jobs.reconcile(pool, say)
            for p in problems:
                say(f"  {p['billing_account_number']}: {p['problem']}")
            say("reconcile: OK, every account's ledger agrees" if not problems else
                f"reconcile: {len(problems)} problems")
            return 1 if problems else 0
        result = await JOBS[args.job](pool, args.date or business_today(), say)
        say(f"{args.job}: done {result}")
        return 0
    finally:
        await pool.close()


if __name__ == "__main__":
    ops.handle("billing")  # status and the other operator commands (shared/ops.py)
    sys.exit(asyncio.run(main(sys.argv[1:])))
