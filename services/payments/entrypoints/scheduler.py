"""The daily jobs inside the service: each business date, once the cutoff hour has passed,
return intake, settlement, autopay (on the draft day) and the ACH cutoff run for that date.
Every job is idempotent per date and guarded by an advisory lock, so several replicas (or an
operator's CLI run) never do the work twice."""
from __future__ import annotations

import asyncio
import logging

from services.payments.service_layer import ach, autopay
from shared import metrics
from shared.calendar import business_today
from shared.runtime import Service

log = logging.getLogger(__name__)


async def run_day(svc: Service, day) -> None:
    deps = svc.state["deps"]
    info = lambda msg: log.info(msg, extra={"business_date": day.isoformat()})  # noqa: E731
    for name, job in (("returns", ach.run_returns), ("settlement", ach.run_settlement),
                      ("autopay", autopay.run_autopay), ("cutoff", ach.run_cutoff)):
        with metrics.job_run(name):
            await job(deps, day, info)


async def daily_jobs(svc: Service) -> None:
    deps = svc.state["deps"]
    done = None
    while True:
        now = deps.clock()
        day = business_today(now)
        if now.hour >= deps.settings.ach_cutoff_hour and done != day:
            await run_day(svc, day)
            done = day
        await asyncio.sleep(deps.settings.scheduler_poll_s)
