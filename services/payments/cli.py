"""Operator commands, each for one business date (default: today in New York), printing
progress; running one twice for the same date changes nothing the second time.

    python -m services.payments.cli autopay --date YYYY-MM-DD     # draft day: draft every mandate
    python -m services.payments.cli autopay-notices --date YYYY-MM-DD  # Regulation E: notices of
                                                                  # the drafts 10 days ahead
    python -m services.payments.cli ach-cutoff --date YYYY-MM-DD  # the day's NACHA file
    python -m services.payments.cli ach-same-day --date YYYY-MM-DD [--window N]  # the same-day
                                                                  # file of binders (window 1-3;
                                                                  # default: each in turn)
    python -m services.payments.cli settle --date YYYY-MM-DD      # effective date reached: settled
    python -m services.payments.cli returns --date YYYY-MM-DD     # read the bank's return files
    python -m services.payments.cli day --date YYYY-MM-DD         # all five, as the scheduler does
    python -m services.payments.cli return-rates --date YYYY-MM-DD  # the 60-day ACH return rates
                                                                  # against Nacha's limits (exit 1
                                                                  # when one is over its limit)
    python -m services.payments.cli archive-verify                # the encrypted ACH archive
                                                                  # matches every file recorded
    python -m services.payments.cli lockbox import|record|unapplied ...  # checks and money
                                                                  # orders (cli_lockbox.py)
    python -m services.payments.cli refunds pending|approve ID|run ...  # refunds of credit
                                                                  # (cli_refunds.py)
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date

from services.payments import cli_lockbox, cli_refunds
from services.payments.app import MIGRATIONS
from services.payments.config import Settings
from services.payments.service_layer import ach, autopay, autopay_notices, refunds, return_rates
from services.payments.service_layer.deps import build_deps
from shared import ops
from shared.calendar import business_today
from shared.db import create_pool, migrate

JOBS = ("autopay", "autopay-notices", "ach-cutoff", "ach-same-day", "settle", "returns", "day", "return-rates",
        "archive-verify")


def say(message: str) -> None:
    print(message, flush=True)


async def run(settings: Settings, job: str, day: date, window: int | None = None) -> dict:
    pool = await create_pool(settings.database_url, 1, 4)
    deps = build_deps(pool, settings)
    try:
        await migrate(pool, MIGRATIONS)
        if job == "autopay":
            return await autopay.run_autopay(deps, day, say)
        if job == "autopay-notices":
            return await autopay_notices.run_notices(deps, day, say)
        if job == "ach-cutoff":
            return await ach.run_cutoff(deps, day, say)
        if job == "ach-same-day":
            numbers = [window] if window else [w.number for w in settings.same_day_windows]
            return {f"window_{n}": await ach.run_same_day(deps, day, n, say) for n in numbers}
        if job == "settle":
            return await ach.run_settlement(deps, day, say)
        if job == "return-rates":
            async with pool.acquire() as conn:
                rates = await return_rates.measure(conn, day)
            for line in return_rates.report(rates, day):
                say(line)
            return {"over": [r.category.name for r in rates if r.level == "over"]}
        if job == "archive-verify":
            return await ach.verify_archive(deps, say)
        if job == "returns":
            result = await ach.run_returns(deps, day, say)
            return result
        out = {"returns": await ach.run_returns(deps, day, say),
               "settle": await ach.run_settlement(deps, day, say),
               "autopay": await autopay.run_autopay(deps, day, say),
               "notices": await autopay_notices.run_notices(deps, day, say),
               "cutoff": await ach.run_cutoff(deps, day, say),
               "refunds": await refunds.run_refunds(deps, day, say)}
        return out
    finally:
        await deps.processor.close()
        await pool.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.payments.cli")
    parser.add_argument("job", choices=JOBS)
    parser.add_argument("--date", type=date.fromisoformat, default=None,
                        help="business date YYYY-MM-DD (default: today in New York)")
    parser.add_argument("--window", type=int, choices=(1, 2, 3), default=None,
                        help="ach-same-day: the Fed same-day window (default: each configured one)")
    args = parser.parse_args(argv)
    result = asyncio.run(run(Settings(), args.job, args.date or business_today(), args.window))
    rejected = result.get("rejected") if isinstance(result, dict) else None
    problems = result.get("problems") if isinstance(result, dict) else None
    over = result.get("over") if isinstance(result, dict) else None
    return 2 if rejected or problems else 1 if over else 0


if __name__ == "__main__":
    ops.handle("payments")  # status and the other operator commands (shared/ops.py)
    if sys.argv[1:2] == ["lockbox"]:
        sys.exit(cli_lockbox.main(sys.argv[2:]))
    if sys.argv[1:2] == ["refunds"]:
        sys.exit(cli_refunds.main(sys.argv[2:]))
    sys.exit(main())
