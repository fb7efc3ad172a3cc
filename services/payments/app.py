"""Wires the payments service: the billing projection consumer, HTTP routes and the daily
jobs (autopay on the draft day, ACH cutoff, settlement, return intake) on the shared runtime."""
from __future__ import annotations

from pathlib import Path

from services.payments.adapters.processor import CardProcessor
from services.payments.config import Settings
from services.payments.entrypoints.http import DEPS, routes
from services.payments.entrypoints.scheduler import schedule_daily_jobs
from services.payments.service_layer import projection, return_rates
from services.payments.service_layer.deps import Deps, build_deps
from shared.calendar import Clock, business_now
from shared.contracts import topics
from shared.runtime import Service

MIGRATIONS = Path(__file__).parent / "migrations"


def build_service(settings: Settings, processor: CardProcessor | None = None,
                  clock: Clock = business_now) -> Service[Deps]:
    """The payments service; `clock` is the time its use cases and daily jobs read (tests
    give a fixed one)."""
    service: Service[Deps] = Service("payments", settings, MIGRATIONS, produces=[topics.PAYMENTS_V1])
    service.consume(settings.consumer_group, topics.BILLING_V1, handlers=projection.HANDLERS)
    service.app.add_routes(routes)

    @service.on_startup
    async def _deps(svc: Service[Deps]) -> None:
        assert svc.pool is not None
        svc.app[DEPS] = svc.provide(build_deps(svc.pool, settings, processor, clock))

    @service.on_cleanup
    async def _close(svc: Service[Deps]) -> None:
        deps = svc.deps_if_provided
        if deps is not None:
            await deps.processor.close()

    @service.on_scrape
    async def _return_rates(svc: Service[Deps]) -> None:
        assert svc.pool is not None
        await return_rates.scrape(svc.pool)

    if settings.run_scheduler:
        schedule_daily_jobs(service, settings)
    return service
