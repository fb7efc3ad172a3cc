"""Identity's jobs on demand: `python -m services.identity.cli purge-throttle --date YYYY-MM-DD`.

`purge-throttle` forgets throttle windows that started before the given business date
(America/New_York midnight); the service also runs it every minute for windows long over.
A second run for the same date finds nothing more to delete.
"""
from __future__ import annotations

import argparse
import asyncio
from datetime import date, datetime, time

from services.identity.adapters import throttle
from services.identity.app import MIGRATIONS
from services.identity.config import Settings
from shared import ops
from shared.calendar import NEW_YORK
from shared.db import create_pool, migrate


async def purge_throttle(settings: Settings, day: date) -> int:
    pool = await create_pool(settings.database_url, 1, 2)
    try:
        await migrate(pool, MIGRATIONS)
        return await throttle.purge(pool, datetime.combine(day, time(0), NEW_YORK))
    finally:
        await pool.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.identity.cli")
    parser.add_argument("job", choices=["purge-throttle"])
    parser.add_argument("--date", type=date.fromisoformat, required=True, help="business date YYYY-MM-DD")
    args = parser.parse_args(argv)
    print(f"purge-throttle: deleting throttle windows that started before {args.date} (America/New_York)")
    deleted = asyncio.run(purge_throttle(Settings(), args.date))
    print(f"purge-throttle: {deleted} counter rows deleted")


if __name__ == "__main__":
    ops.handle("identity")  # status and the other operator commands (shared/ops.py)
    main()
