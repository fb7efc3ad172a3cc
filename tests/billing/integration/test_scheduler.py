"""Two billing replicas with their schedulers on, on one database: each business date's
jobs run once between them, and again only for the next date."""
from __future__ import annotations

import asyncio
from datetime import date

from services.billing.app import build_service
from services.billing.config import Settings
from services.billing.service_layer import jobs
from tests.helpers import DayClock, wait_for

JOBS = ("invoice_cycle", "binder_deadline", "delinquency")


async def test_two_replicas_run_the_days_jobs_once_per_business_date(infra, fresh_db, monkeypatch):
    runs: list[tuple[str, date]] = []

    def counted(real, name):
        async def run(pool, day, *args):
            runs.append((name, day))
            await asyncio.sleep(0.2)  # long enough for the other replica to poll meanwhile
            return await real(pool, day, *args)
        return run
    for name in JOBS:
        monkeypatch.setattr(jobs, name, counted(getattr(jobs, name), name))
    clock = DayClock(date(2027, 3, 4))
    settings = Settings(database_url=fresh_db, KAFKA_BOOTSTRAP=infra.kafka_bootstrap,
                        run_scheduler=True, run_consumers=False, run_relay=False,
                        scheduler_poll_s=0.1)
    replicas = [build_service(settings, clock=clock) for _ in range(2)]
    await asyncio.gather(*(r.start(http=False) for r in replicas))
    pool = replicas[0].pool
    try:
        async def done(day: str) -> bool:
            return await pool.fetchval(
                "SELECT true FROM daily_runs WHERE name = 'billing-daily' AND business_date = $1",
                date.fromisoformat(day)) or False
        await wait_for(lambda: done("2027-03-04"), what="the daily jobs of March 4")
        await asyncio.sleep(0.6)  # a few more polls of each replica: nothing runs again
        assert sorted(runs) == sorted((name, date(2027, 3, 4)) for name in JOBS)
        clock.fix(date(2027, 3, 5))
        await wait_for(lambda: done("2027-03-05"), what="the daily jobs of March 5")
        await asyncio.sleep(0.6)
        assert sorted(runs) == sorted((name, day) for name in JOBS
                                      for day in (date(2027, 3, 4), date(2027, 3, 5)))
        rows = await pool.fetch("SELECT job, business_date FROM job_runs ORDER BY 2, 1")
        assert len(rows) == 6
    finally:
        await asyncio.gather(*(r.stop() for r in replicas))
