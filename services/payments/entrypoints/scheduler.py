"""The daily jobs inside the service: each business date, once the cutoff hour has passed,
return intake, settlement, autopay (on the draft day), the autopay notices (Regulation E: 10
days before a draft), the ACH cutoff and the refunds (refund file, card refunds) run for
that date.
One replica runs a date (`Service.daily`: the scheduler's advisory lock is held for the
whole run, and the date is recorded done in the database); autopay and the cutoff also
take their own locks, so an operator's CLI run beside the scheduler never does the work
twice either, and every job is idempotent per date."""
from __future__ import annotations

import logging
from datetime import date, datetime

from services.payments.config import Settings
from services.payments.service_layer import ach, autopay, autopay_notices, refunds
from services.payments.service_layer.deps import Deps
from shared import locks, metrics
from shared.runtime import Service

log = logging.getLogger(__name__)
NAME = "payments-daily"


async def run_day(svc: Service[Deps], day: date) -> None:
    deps = svc.deps
    info = lambda msg: log.info(msg, extra={"business_date": day.isoformat()})  # noqa: E731
    for name, job in (("returns", ach.run_returns), ("settlement", ach.run_settlement),
                      ("autopay", autopay.run_autopay),
                      ("autopay_notices", autopay_notices.run_notices), ("cutoff", ach.run_cutoff),
                      ("refunds", refunds.run_refunds)):
        with metrics.job_run(name):
            await job(deps, day, info)


def schedule_daily_jobs(service: Service[Deps], settings: Settings) -> None:
    """Run `run_day` once per business date after the ACH cutoff hour, by the clock the
    service's dependencies carry (built at start; tests move it)."""
    def now() -> datetime:
        return service.deps.clock()

    async def daily_jobs(svc: Service[Deps], day: date) -> None:
        await run_day(svc, day)
    service.daily(NAME, locks.PAYMENTS_SCHEDULER, daily_jobs, hour=settings.ach_cutoff_hour,
                  poll_s=settings.scheduler_poll_s, clock=now)
