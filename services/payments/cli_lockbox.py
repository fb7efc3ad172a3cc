"""Operator commands for checks and money orders (docs/operations.md, "Lockbox"):

    python -m services.payments.cli lockbox import FILE [--date YYYY-MM-DD]
        # the lockbox bank's file: every item recorded once; a file with a bad line is
        # refused whole (exit 2), naming each line and field; the same file again changes nothing
    python -m services.payments.cli lockbox record --ban B --amount 310.00 --check-number N
        [--kind check|money_order] [--payer-name NAME] [--date YYYY-MM-DD]
        # one item taken by phone or at a counter (exit 2 when a field is refused)
    python -m services.payments.cli lockbox unapplied
        # the items held for an operator (an account payments does not know)
"""
from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any

from services.payments.app import MIGRATIONS
from services.payments.config import Settings
from services.payments.domain.lockbox import Refused
from services.payments.service_layer import lockbox
from services.payments.service_layer.deps import Deps, build_deps
from shared.calendar import business_today
from shared.db import create_pool, migrate
from shared.money import format_dollars


def say(message: str) -> None:
    print(message, flush=True)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m services.payments.cli lockbox")
    sub = p.add_subparsers(dest="command", required=True)
    imp = sub.add_parser("import", help="import the lockbox bank's file")
    imp.add_argument("file", type=Path)
    rec = sub.add_parser("record", help="one check or money order taken by phone or at a counter")
    rec.add_argument("--ban", required=True, help="the billing account number")
    rec.add_argument("--amount", required=True, help="dollars and cents, like 310.00")
    rec.add_argument("--check-number", required=True, help="the check's or money order's number")
    rec.add_argument("--kind", default="check", help="check (default) or money_order")
    rec.add_argument("--payer-name", default="", help="as written on the check (default: unknown)")
    sub.add_parser("unapplied", help="the items held for an operator")
    for command in (imp, rec):
        command.add_argument("--date", type=date.fromisoformat, default=None,
                             help="business date YYYY-MM-DD (default: today in New York); "
                                  "no deposit may be dated after it")
    return p


async def _with_deps(settings: Settings, work: Callable[[Deps], Awaitable[int]]) -> int:
    pool = await create_pool(settings.database_url, 1, 4)
    deps = build_deps(pool, settings)
    try:
        await migrate(pool, MIGRATIONS)
        return await work(deps)
    finally:
        await deps.processor.close()
        await pool.close()


async def run(settings: Settings, args: Any) -> int:
    """The command's exit status: 0 done, 2 refused."""
    day = getattr(args, "date", None) or business_today()

    async def work(deps: Deps) -> int:
        if args.command == "import":
            result = await lockbox.import_file(deps, args.file, day, say)
            return 2 if result.get("refused") else 0
        if args.command == "record":
            fields = {"billing_account_number": args.ban, "amount": args.amount,
                      "check_number": args.check_number, "kind": args.kind,
                      "payer_name": args.payer_name or "unknown", "deposit_date": day.isoformat()}
            try:
                await lockbox.record_item(deps, fields, day, say)
            except Refused as exc:
                for problem in exc.problems:
                    say(f"REFUSED, nothing recorded: {problem.field}: {problem.message}")
                return 2
            return 0
        rows = await lockbox.unapplied_items(deps)
        for r in rows:
            where = (f"batch {r['batch_id']} item {r['item_sequence']}" if r["source"] == "lockbox"
                     else "counter")
            say(f"{r['item_id']}  {r['deposit_date']}  {where}  {r['billing_account_number']}  "
                f"{format_dollars(r['amount_cents'])}  {r['kind'].replace('_', ' ')} "
                f"#{r['check_number']}  {r['payer_name']}  ({r['reason']})")
        say(f"{len(rows)} items held unapplied")
        return 0

    return await _with_deps(settings, work)


def main(argv: list[str], settings: Settings | None = None) -> int:
    args = parser().parse_args(argv)
    return asyncio.run(run(settings or Settings(), args))
