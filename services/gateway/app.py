"""Wires the gateway: its sessions database, the service clients, the JSON API, the portal,
security headers and rate limits. It consumes no Kafka topic through a consumer group (its
change feed, which keeps the account cache current, reads billing.v1 and payments.v1 from
their ends in every process), so it does not use shared.runtime.Service; it reuses
shared.http for health, readiness, metrics and errors."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from aiohttp import web

from services.gateway.adapters.change_feed import ChangeFeed
from services.gateway.adapters.drafts import PaymentDrafts
from services.gateway.adapters.store import Store
from services.gateway.adapters.upstream import Upstreams
from services.gateway.config import Settings
from services.gateway.domain.tokens import Signer
from services.gateway.entrypoints import api, docs, errors, keys, portal
from services.gateway.entrypoints import web as w
from services.gateway.service_layer.account_cache import AccountCache
from services.gateway.service_layer.captcha import Captchas
from services.gateway.service_layer.deps import Deps
from services.gateway.service_layer.use_cases import UseCases
from shared import process, tracing
from shared.contracts.topics import BILLING_V1, PAYMENTS_V1
from shared.db import create_pool, migrate, pending_migrations
from shared.http import create_app
from shared.logging import configure_logging
from shared.service_auth import TokenSigner, TokenVerifier, auth_middleware

log = logging.getLogger("gateway")
HERE = Path(__file__).parent
MIGRATIONS = HERE / "migrations"
USWDS = HERE / "node_modules" / "@uswds" / "uswds" / "dist"


def build_app(settings: Settings) -> web.Application:
    app: web.Application

    async def readiness() -> dict[str, bool]:
        deps = app.get(keys.DEPS)
        if deps is None:
            return {"postgres": False, "migrations": False}
        pool = deps.pool
        try:
            pending = await pending_migrations(pool, MIGRATIONS)
            return {"postgres": True, "migrations": not pending}
        except Exception:  # noqa: BLE001 - readiness reports, it does not raise
            return {"postgres": False, "migrations": False}

    # The portal and the public API are public; the gateway's own /metrics answers only a
    # caller with a token for the gateway that may read it (the scraper).
    app = create_app(readiness, name="gateway", auth=auth_middleware(
        "gateway", TokenVerifier("gateway", settings.service_keys),
        protected=lambda request: request.path == "/metrics"))
    app[keys.SETTINGS] = settings
    app[keys.SIGNER] = signer = Signer(settings.secret_key)
    upstreams = Upstreams({"identity": settings.identity_url, "billing": settings.billing_url,
                           "payments": settings.payments_url, "notify": settings.notify_url},
                          settings.upstream_timeout_s, settings.upstream_connections,
                          TokenSigner.from_keys(settings.service_keys, "gateway",
                                                settings.service_token_ttl_s))
    app[keys.UPSTREAMS] = upstreams
    # Portal pages answer every error (a rate limit too) as a page; the API as JSON.
    app.middlewares.append(portal.html_errors_middleware)
    app.middlewares.append(w.rate_limit_middleware(
        w.RateLimiter(settings.rate_limit_per_minute, settings.sensitive_rate_limit_per_minute)))
    # Innermost: a use case's domain error becomes the answer both middlewares above give.
    app.middlewares.append(errors.translate_middleware)
    app.on_response_prepare.append(w.security_headers(settings))

    async def resources(app: web.Application):
        pool = await create_pool(settings.database_url, settings.db_pool_min, settings.db_pool_max)
        await migrate(pool, MIGRATIONS)
        store = Store(pool)
        drafts = PaymentDrafts(pool, settings.secret_key, settings.lookup_token_ttl_s)
        await upstreams.start()
        cache, feed = _account_cache(settings, upstreams)
        app[keys.DEPS] = Deps(
            pool, store, Captchas(store, settings.captcha_ttl_s, settings.captcha_enabled), drafts,
            cache, feed, UseCases(settings, upstreams, store, signer, cache))
        tasks = [asyncio.create_task(_purge_forever(store, drafts))]
        if feed is not None:
            await feed.start()
            tasks.append(asyncio.create_task(upstreams.watch(SOURCES, settings.health_probe_interval_s)))
        yield
        if feed is not None:
            await feed.stop()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await upstreams.close()
        await pool.close()

    app.cleanup_ctx.append(resources)
    api.install(app)
    app[keys.OPENAPI] = api.api.document()
    docs.install(app)
    portal.install(app)
    app.router.add_static("/static/uswds", USWDS, follow_symlinks=False) if USWDS.exists() else None
    app.router.add_static("/static/portal", HERE / "static")
    return app


# The services whose answers make up an account summary, and the topics that announce changes.
SOURCES = ("billing", "payments")


def _account_cache(settings: Settings, upstreams: Upstreams) -> tuple[AccountCache, ChangeFeed | None]:
    """The account cache and the change feed that keeps it current (none when it is off)."""
    feed: ChangeFeed | None = None

    def usable() -> bool:
        return feed is not None and feed.live() and all(upstreams.is_up(s) for s in SOURCES)

    def bypass_reason() -> str:
        if feed is None or not feed.positioned:
            return "feed_not_following"
        if not feed.live():
            return "feed_behind"
        return "source_down"

    cache = AccountCache(settings.account_cache_ttl_s, settings.account_cache_settle_s,
                         settings.account_cache_entries, usable, bypass_reason=bypass_reason)
    if cache.enabled:
        feed = ChangeFeed(settings.kafka_bootstrap, [BILLING_V1, PAYMENTS_V1],
                          on_change=lambda ban, topic: cache.invalidate(ban, topic),
                          on_reset=cache.clear, max_lag_s=settings.change_feed_max_lag_s,
                          auth=settings.kafka_auth())
    return cache, feed


async def _purge_forever(store: Store, drafts: PaymentDrafts) -> None:
    while True:
        await asyncio.sleep(300)
        try:
            await store.purge_expired()
            await drafts.purge_expired()
        except Exception:  # noqa: BLE001 - try again next time
            log.warning("session purge failed", exc_info=True)


def _serve(settings: Settings) -> None:
    configure_logging("gateway", settings.log_level)
    tracing.configure("gateway", settings.otel_exporter_otlp_endpoint)
    process.prepare()
    app = build_app(settings)

    async def settle(_: web.Application) -> None:
        process.settle()

    async def flush_traces(_: web.Application) -> None:
        tracing.shutdown()

    app.on_startup.append(settle)
    app.on_cleanup.append(flush_traces)
    web.run_app(app, host=settings.http_host, port=settings.http_port,
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
