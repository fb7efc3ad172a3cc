"""The daily jobs inside the service: each business date, once the cutoff hour has passed,
return intake, settlement, autopay (on the draft day), the autopay notices (Regulation E: 10
days before a draft), the ACH cutoff and the refunds (refund file, card refunds) run for
that date. On each banking day the same-day files of binders go at their send times
(`PAYMENTS_ACH_SAME_DAY_WINDOWS`), one run per window.
One replica runs a date (`Service.daily`: the scheduler's advisory lock is held for the
whole run, and the date is recorded done in the database); autopay and the cutoff also
take their own locks, so an operator's CLI run beside the scheduler never does the work
twice either, and every job is idempotent per date."""
from __future__ import annotations

import logging
from datetime import date, datetime, time

from services.payments.config import Settings
from services.payments.service_layer import ach, autopay, autopay_notices, refunds
from services.payments.service_layer.deps import Deps
from shared import locks, metrics
from shared.calendar import NEW_YORK, is_banking_day
from shared.runtime import DailyJob, DueRule, Service

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
    for w in settings.same_day_windows:
        # Under the same scheduler lock as the day's jobs: a window's file and the cutoff
        # never run at once (a same-day debit still waiting at the cutoff goes in its file).
        service.daily(f"payments-same-day-{w.number}", locks.PAYMENTS_SCHEDULER,
                      _same_day_job(w.number), due=due_at(w.send_at),
                      poll_s=settings.scheduler_poll_s, clock=now)


def _same_day_job(window: int) -> DailyJob:
    async def same_day_file(svc: Service[Deps], day: date) -> None:
        with metrics.job_run(f"same_day_{window}"):
            await ach.run_same_day(svc.deps, day, window,
                                   lambda msg: log.info(msg, extra={"business_date": day.isoformat()}))
    return same_day_file


def due_at(at: time) -> DueRule:
    """Due on a banking day once `at` (New York time) has passed."""
    def rule(now: datetime) -> date | None:
        local = now.astimezone(NEW_YORK)
        return local.date() if is_banking_day(local.date()) and local.time() >= at else None
    return rule
