"""Operator commands for refunds of credit (docs/operations.md, "Refunds"):

    python -m services.payments.cli refunds pending
        # the refunds over PAYMENTS_REFUND_APPROVAL_CENTS waiting for an operator
    python -m services.payments.cli refunds approve REFUND_ID [--operator NAME]
        # approve one: a card refund goes at once, a bank account's with the next refund file
    python -m services.payments.cli refunds run [--date YYYY-MM-DD]
        # the day's refunds: the ACH credit file (PAYMENTS_YYYYMMDD_R.ach) and card refunds
"""
from __future__ import annotations

import argparse
import asyncio
import getpass
from datetime import date
from typing import Any

from services.payments.cli_lockbox import _with_deps, say
from services.payments.config import Settings
from services.payments.service_layer import refunds
from services.payments.service_layer.deps import Deps
from shared.calendar import business_today
from shared.errors import DomainError
from shared.money import format_dollars


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m services.payments.cli refunds")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("pending", help="the refunds waiting for an operator's approval")
    ok = sub.add_parser("approve", help="approve a refund waiting for it")
    ok.add_argument("refund_id")
    ok.add_argument("--operator", default=None, help="who approves (default: the login name)")
    run = sub.add_parser("run", help="the day's refund file and card refunds")
    run.add_argument("--date", type=date.fromisoformat, default=None,
                     help="business date YYYY-MM-DD (default: today in New York)")
    return p


def _line(r: dict[str, Any]) -> str:
    return (f"{r['refund_id']}  {r['confirmation_number']}  {r['billing_account_number']}  "
            f"{format_dollars(r['amount_cents'])}  to {r['method']['type']} ending "
            f"{r['method']['last4']}  requested {r['requested_on']}  {r['status']}")


async def run(settings: Settings, args: Any) -> int:
    """The command's exit status: 0 done, 2 refused."""

    async def work(deps: Deps) -> int:
        if args.command == "pending":
            rows = await refunds.pending(deps)
            for r in rows:
                say(_line(r))
            say(f"{len(rows)} refunds waiting for approval")
            return 0
        if args.command == "approve":
            try:
                r = await refunds.approve(deps, args.refund_id, args.operator or getpass.getuser())
            except DomainError as exc:
                say(f"REFUSED: {exc.message}")
                return 2
            say("approved: " + _line(r))
            return 0
        result = await refunds.run_refunds(deps, args.date or business_today(), say)
        return 0 if result is not None else 2

    return await _with_deps(settings, work)


def main(argv: list[str], settings: Settings | None = None) -> int:
    args = parser().parse_args(argv)
    return asyncio.run(run(settings or Settings(), args))
