"""Wires the billing service: consumers, HTTP routes and the daily jobs scheduler."""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from services.billing.config import Settings
from services.billing.entrypoints import http
from services.billing.service_layer import accounts, clock, jobs
from shared import metrics
from shared.contracts import enrollment, payments, topics
from shared.runtime import Service

MIGRATIONS = Path(__file__).parent / "migrations"
SCHEDULER_LOCK_ID = 7_200_201
log = logging.getLogger(__name__)


def build_service(settings: Settings) -> Service:
    service = Service("billing", settings, MIGRATIONS, produces=[topics.BILLING_V1])
    service.consume(settings.enrollments_group, topics.ENROLLMENT_V1, handlers={
        enrollment.ENROLLMENT_CREATED: accounts.on_enrollment,
        enrollment.ENROLLMENT_UPDATED: accounts.on_enrollment,
        enrollment.ENROLLMENT_TERMINATED: accounts.on_enrollment_terminated,
    })
    service.consume(settings.payments_group, topics.PAYMENTS_V1, handlers={
        payments.PAYMENT_SUBMITTED: accounts.on_payment_submitted,
        payments.PAYMENT_SETTLED: accounts.on_payment_settled,
        payments.PAYMENT_RETURNED: accounts.on_payment_returned,
        payments.PAYMENT_FAILED: accounts.on_payment_failed,
    })
    http.register(service.app, lambda: service.pool)

    if settings.run_scheduler:
        @service.job
        async def daily_jobs(svc: Service) -> None:
            """Once per business date: the invoice cycle, binder deadline and delinquency.
            One replica runs them (advisory lock); each job is idempotent per date anyway."""
            while True:
                today = clock.today()
                async with svc.pool.acquire() as conn:
                    leader = await conn.fetchval("SELECT pg_try_advisory_lock($1)", SCHEDULER_LOCK_ID)
                    try:
                        if leader:
                            for name, job in (("invoice-cycle", jobs.invoice_cycle),
                                              ("binder-deadline", jobs.binder_deadline),
                                              ("delinquency", jobs.delinquency)):
                                if not await conn.fetchval(
                                        "SELECT 1 FROM job_runs WHERE job = $1 AND business_date = $2",
                                        name, today):
                                    with metrics.job_run(name):
                                        result = await job(svc.pool, today)
                                    log.info("daily job done", extra={"job": name, "result": result})
                    finally:
                        if leader:
                            await conn.execute("SELECT pg_advisory_unlock($1)", SCHEDULER_LOCK_ID)
                await asyncio.sleep(settings.scheduler_poll_s)
    return service
