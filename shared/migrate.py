"""python -m shared.migrate SERVICE: apply one service's database migrations, then stop.

Every service also migrates when it starts (an advisory lock makes replicas apply each file
once), so this is for deployments that run migrations once, as their own step before the
new replicas start (the Kubernetes Jobs under deploy/). It reads the same settings as the
service (`<SERVICE>_DATABASE_URL`) and prints the versions it applied.
"""
from __future__ import annotations

import argparse
import asyncio
import importlib
import sys

from shared.db import create_pool, migrate

SERVICES = ("identity", "billing", "payments", "notify", "gateway")


async def run(service: str) -> list[str]:
    config = importlib.import_module(f"services.{service}.config")
    app = importlib.import_module(f"services.{service}.app")
    settings = config.Settings()
    pool = await create_pool(settings.database_url, 1, 1)
    try:
        return await migrate(pool, app.MIGRATIONS)
    finally:
        await pool.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.migrate", description=__doc__.splitlines()[0])
    parser.add_argument("service", choices=SERVICES)
    args = parser.parse_args(argv)
    applied = asyncio.run(run(args.service))
    print(f"{args.service}: {len(applied)} migration(s) applied" + (f": {', '.join(applied)}" if applied else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
