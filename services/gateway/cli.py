"""python -m services.gateway.cli purge-sessions [--date YYYY-MM-DD]: the gateway's one
scheduled job on demand. It deletes expired sessions and spent CAPTCHA challenges; a
second run changes nothing. (--date is accepted for uniformity: expiry is by the clock.)"""
from __future__ import annotations

import argparse
import asyncio

from services.gateway.adapters.store import Store
from services.gateway.app import MIGRATIONS
from services.gateway.config import Settings
from shared import ops
from shared.db import create_pool, migrate


async def purge(settings: Settings) -> None:
    pool = await create_pool(settings.database_url, 1, 2)
    try:
        await migrate(pool, MIGRATIONS)
        before = await pool.fetchval("SELECT (SELECT count(*) FROM sessions) + (SELECT count(*) FROM captcha_challenges)")
        await Store(pool).purge_expired()
        after = await pool.fetchval("SELECT (SELECT count(*) FROM sessions) + (SELECT count(*) FROM captcha_challenges)")
        print(f"purged {before - after} expired sessions and CAPTCHA challenges; {after} remain")
    finally:
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.gateway.cli")
    parser.add_argument("job", choices=["purge-sessions"])
    parser.add_argument("--date", help="accepted for uniformity with the other services' jobs")
    parser.parse_args()
    asyncio.run(purge(Settings()))


if __name__ == "__main__":
    ops.handle("gateway")  # status and the other operator commands (shared/ops.py)
    main()
