"""Operator commands: `python -m services.notify.cli reminders --date YYYY-MM-DD` records
the due-date reminders of that business date (the sender delivers them); running it again
for the same date creates nothing. `send --until-idle` delivers what is pending now."""
from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date

from services.notify.adapters.email import SmtpPool
from services.notify.adapters.sms import make_sms_provider
from services.notify.app import MIGRATIONS, make_composer
from services.notify.config import Settings
from services.notify.service_layer.reminders import run_reminders
from services.notify.service_layer.sender import Sender, SenderConfig
from shared import ops
from shared.calendar import business_today
from shared.db import create_pool, migrate


async def _reminders(settings: Settings, day: date) -> None:
    pool = await create_pool(settings.database_url, 1, 2)
    try:
        await migrate(pool, MIGRATIONS)
        print(f"reminders for {day.isoformat()}: due date ", end="", flush=True)
        result = await run_reminders(pool, make_composer(settings), day,
                                     settings.reminder_days_before)
        print(result["due_date"])
        print(f"  accounts with a balance due and no autopay: {result['accounts_due']}")
        print(f"  notifications recorded now: {result['notifications_created']}")
        print(f"  already recorded by an earlier run: {result['already_recorded']}")
    finally:
        await pool.close()


async def _send(settings: Settings) -> None:
    pool = await create_pool(settings.database_url, 1, 4)
    smtp = SmtpPool(settings.smtp_host, settings.smtp_port, size=settings.smtp_connections,
                    timeout_s=settings.smtp_timeout_s)
    sms = make_sms_provider(settings)
    sender = Sender(pool, smtp, sms, SenderConfig(
        mail_from=settings.mail_from, batch=settings.sender_batch,
        attempts_max=settings.send_attempts_max, retry_base_s=settings.retry_base_s,
        retry_max_s=settings.retry_max_s, lease_s=settings.claim_lease_s))
    try:
        total = 0
        while claimed := await sender.run_once():
            total += claimed
            print(f"  attempted {total}", flush=True)
        print(f"done: {total} attempted")
    finally:
        await smtp.close()
        await sms.close()
        await pool.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.notify.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    rem = sub.add_parser("reminders", help="record the due-date reminders of a business date")
    rem.add_argument("--date", type=date.fromisoformat, default=None,
                     help="business date YYYY-MM-DD (default: today in New York)")
    sub.add_parser("send", help="deliver the notifications due now, then stop")
    args = parser.parse_args(argv)
    settings = Settings()
    if args.command == "reminders":
        asyncio.run(_reminders(settings, args.date or business_today()))
    else:
        asyncio.run(_send(settings))
    return 0


if __name__ == "__main__":
    ops.handle("notify")  # status and the other operator commands (shared/ops.py)
    sys.exit(main())
