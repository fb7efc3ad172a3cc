"""Wires the billing service: consumers, HTTP routes and the daily jobs (`Service.daily`:
one replica runs each business date's jobs, as soon as the date begins)."""
from __future__ import annotations

import logging
from datetime import date
from functools import partial
from pathlib import Path

from services.billing.adapters import repository
from services.billing.config import Settings
from services.billing.entrypoints import http
from services.billing.service_layer import accounts, jobs, payment_batch, refunds
from services.billing.service_layer.deps import Deps
from shared import locks, metrics
from shared.calendar import Clock, business_now
from shared.consumer import Handler
from shared.contracts import enrollment, payments, topics
from shared.runtime import Service

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger(__name__)


def build_service(settings: Settings, clock: Clock = business_now) -> Service[Deps]:
    """The billing service; `clock` is its one source of the business date (events booked,
    answers given and the daily jobs' date), the real New York clock unless a test fixes it."""
    service: Service[Deps] = Service("billing", settings, MIGRATIONS, produces=[topics.BILLING_V1])
    deps = service.provide(Deps(settings, clock))
    on_enrollment = partial(accounts.on_enrollment, clock=deps.clock)
    service.consume(settings.enrollments_group, topics.ENROLLMENT_V1, handlers={
        enrollment.ENROLLMENT_CREATED: on_enrollment,
        enrollment.ENROLLMENT_UPDATED: on_enrollment,
        enrollment.ENROLLMENT_TERMINATED: accounts.on_enrollment_terminated,
    })
    # A batch at a time: its settlements and submissions together, the rest one by one
    # (service_layer/payment_batch.py).
    handlers = payment_handlers(deps.clock)
    service.consume(settings.payments_group, topics.PAYMENTS_V1, batch_handler=partial(
        payment_batch.apply_payment_events, handlers=handlers, clock=deps.clock),
        event_types=list(handlers))
    http.register(service.app, lambda: service.pool, deps.clock)

    if settings.run_scheduler:
        service.daily("billing-daily", locks.BILLING_SCHEDULER, run_daily_jobs,
                      poll_s=settings.scheduler_poll_s, clock=deps.clock)
    return service


def payment_handlers(clock: Clock) -> dict[str, Handler]:
    """payments.v1's handlers one event at a time, by event type."""
    return {
        payments.PAYMENT_SUBMITTED: partial(accounts.on_payment_submitted, clock=clock),
        payments.PAYMENT_SETTLED: partial(accounts.on_payment_settled, clock=clock),
        payments.PAYMENT_RETURNED: partial(accounts.on_payment_returned, clock=clock),
        payments.PAYMENT_FAILED: accounts.on_payment_failed,
        payments.REFUND_ISSUED: partial(refunds.on_refund_issued, clock=clock),
        payments.REFUND_RETURNED: partial(refunds.on_refund_returned, clock=clock),
    }


async def run_daily_jobs(svc: Service[Deps], day: date) -> None:
    """A business date's jobs: the invoice cycle, binder deadline and delinquency, each
    skipped when `job_runs` records it done for the date (an operator's CLI run, say)."""
    assert svc.pool is not None
    for name, job in (("invoice-cycle", jobs.invoice_cycle),
                      ("binder-deadline", jobs.binder_deadline),
                      ("delinquency", jobs.delinquency)):
        if await repository.job_ran(svc.pool, name, day):
            continue
        with metrics.job_run(name):
            result = await job(svc.pool, day)
        log.info("daily job done", extra={"job": name, "result": result})
