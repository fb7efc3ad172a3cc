"""Wires the identity service: consumers, HTTP routes and jobs on the shared runtime."""
from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from services.identity.adapters import repository, throttle
from services.identity.adapters.batching import Batcher
from services.identity.config import Settings
from services.identity.entrypoints import consumers
from services.identity.entrypoints.http import DEPS, routes
from services.identity.service_layer.deps import Deps
from shared.contracts import topics
from shared.db import create_pool
from shared.runtime import Service

MIGRATIONS = Path(__file__).parent / "migrations"
PURGE_EVERY_S = 60.0


async def _keep_session(conn) -> None:
    """No reset query on release: lookup connections run plain statements only (no session
    settings, locks, cursors or LISTEN), so there is nothing to reset."""


def build_service(settings: Settings, deps: Deps | None = None) -> Service[Deps]:
    deps = deps or Deps.build(settings)
    service: Service[Deps] = Service("identity", settings, MIGRATIONS, produces=[topics.IDENTITY_V1])
    service.app[DEPS] = service.provide(deps)
    handlers = consumers.handlers(deps)
    service.consume(settings.intake_group, topics.ENROLLMENT_V1, topics.BILLING_V1,
                    handlers=handlers, event_types=tuple(handlers))
    service.app.add_routes(routes)

    @service.on_startup
    async def open_lookup_pool(svc: Service[Deps]) -> None:
        # A generic plan, made once per connection: the lookup statements are fixed and their
        # custom planning would cost more than their execution.
        deps.lookup_pool = await create_pool(
            settings.database_url, settings.db_pool_min, settings.db_pool_max,
            reset=_keep_session, server_settings={"plan_cache_mode": "force_generic_plan"})
        deps.lookup_batcher = Batcher(deps.lookup_pool, repository.lookup_candidates,
                                      max_batch=settings.lookup_batch_max,
                                      in_flight=settings.lookup_batches_in_flight)
        deps.refund_batcher = Batcher(deps.lookup_pool, throttle.refund_many,
                                      max_batch=settings.lookup_batch_max,
                                      in_flight=settings.lookup_batches_in_flight)

    @service.on_cleanup
    async def close_lookup_pool(svc: Service[Deps]) -> None:
        deps.lookup_batcher = deps.refund_batcher = None
        if deps.lookup_pool is not None:
            await deps.lookup_pool.close()
            deps.lookup_pool = None

    @service.job
    async def purge_throttle_counters(svc: Service[Deps]) -> None:
        """Forget throttle windows long over, so the counters table stays small."""
        longest = max(settings.lookup_ip_window_s, settings.lookup_pair_window_s,
                      settings.lookup_target_window_s, settings.login_ip_window_s)
        while True:
            await asyncio.sleep(PURGE_EVERY_S)
            await throttle.purge(svc.pool, deps.clock() - timedelta(seconds=2 * longest))
            await repository.purge_login_failures(
                svc.pool, deps.clock() - timedelta(seconds=settings.login_failure_memory_s))

    return service
