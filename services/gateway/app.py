"""Wires the gateway: its sessions database, the service clients, the JSON API, the portal,
security headers and rate limits. It consumes no Kafka topic, so it does not use
shared.runtime.Service; it reuses shared.http for health, readiness, metrics and errors."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from aiohttp import web

from services.gateway.adapters.store import Store
from services.gateway.adapters.upstream import Upstreams
from services.gateway.config import Settings
from services.gateway.domain.tokens import Signer
from services.gateway.entrypoints import api, docs, portal
from services.gateway.entrypoints import web as w
from services.gateway.service_layer.captcha import Captchas
from services.gateway.service_layer.use_cases import UseCases
from shared.db import create_pool, migrate, pending_migrations
from shared.http import create_app
from shared.logging import configure_logging

log = logging.getLogger("gateway")
HERE = Path(__file__).parent
MIGRATIONS = HERE / "migrations"
USWDS = HERE / "node_modules" / "@uswds" / "uswds" / "dist"


def build_app(settings: Settings) -> web.Application:
    state: dict = {}

    async def readiness() -> dict[str, bool]:
        pool = state.get("pool")
        if pool is None:
            return {"postgres": False, "migrations": False}
        try:
            pending = await pending_migrations(pool, MIGRATIONS)
            return {"postgres": True, "migrations": not pending}
        except Exception:  # noqa: BLE001 - readiness reports, it does not raise
            return {"postgres": False, "migrations": False}

    app = create_app(readiness)
    app["settings"] = settings
    app["signer"] = signer = Signer(settings.secret_key)
    upstreams = Upstreams({"identity": settings.identity_url, "billing": settings.billing_url,
                           "payments": settings.payments_url, "notify": settings.notify_url},
                          settings.upstream_timeout_s, settings.upstream_connections)
    app["upstreams"] = upstreams
    # Portal pages answer every error (a rate limit too) as a page; the API as JSON.
    app.middlewares.append(portal.html_errors_middleware)
    app.middlewares.append(w.rate_limit_middleware(
        w.RateLimiter(settings.rate_limit_per_minute, settings.sensitive_rate_limit_per_minute)))
    app.on_response_prepare.append(w.security_headers(settings))

    async def resources(app: web.Application):
        pool = await create_pool(settings.database_url, settings.db_pool_min, settings.db_pool_max)
        await migrate(pool, MIGRATIONS)
        state["pool"] = pool
        store = Store(pool)
        app["store"] = store
        app["captchas"] = Captchas(store, settings.captcha_ttl_s, settings.captcha_enabled)
        await upstreams.start()
        app["use_cases"] = UseCases(settings, upstreams, store, signer)
        purge = asyncio.create_task(_purge_forever(store))
        yield
        purge.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await purge
        await upstreams.close()
        await pool.close()

    app.cleanup_ctx.append(resources)
    api.install(app)
    app["openapi"] = api.api.document()
    docs.install(app)
    portal.install(app)
    app.router.add_static("/static/uswds", USWDS, follow_symlinks=False) if USWDS.exists() else None
    app.router.add_static("/static/portal", HERE / "static")
    return app


async def _purge_forever(store: Store) -> None:
    while True:
        await asyncio.sleep(300)
        try:
            await store.purge_expired()
        except Exception:  # noqa: BLE001 - try again next time
            log.warning("session purge failed", exc_info=True)


def _serve(settings: Settings) -> None:
    configure_logging("gateway", settings.log_level)
    try:
        import uvloop
        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    web.run_app(build_app(settings), host=settings.http_host, port=settings.http_port,
                access_log=None, print=None, reuse_port=settings.workers > 1)


def run(settings: Settings) -> None:
    """Serve in `settings.workers` processes on one port (the kernel spreads connections)."""
    if not USWDS.exists():
        logging.getLogger("gateway").warning("USWDS assets missing: run `npm ci` in services/gateway")
    if settings.workers == 1:
        _serve(settings)
        return
    import multiprocessing
    import signal

    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_serve, args=(settings,)) for _ in range(settings.workers)]
    for p in procs:
        p.start()

    def stop(*_: object) -> None:
        for p in procs:
            if p.is_alive():
                p.terminate()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for p in procs:
        p.join()
