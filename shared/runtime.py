"""Runs one service process: database, migrations, outbox relay, consumers, HTTP server.

A service describes itself with a `Service` (its name, settings, migrations, consumers,
routes, background jobs and daily jobs) and calls `service.run()`. What its use cases need
(its `Deps`: keys, clients, the clock) is one typed object, `Service[Deps].deps`, given with
`provide()` when the service is built or in a startup hook. The same object starts inside tests
with `await service.start()` / `await service.stop()`, so tests exercise the real wiring.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Generic, TypeVar

import asyncpg
from aiohttp import web
from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI

from shared import faststream_adapter, metrics, process, tracing
from shared.calendar import NEW_YORK, Clock, business_now, business_today
from shared.consumer import BatchHandler, DeadLetters, Handler, IdempotentConsumer, subscribe
from shared.contracts.envelope import Envelope
from shared.contracts.topics import TOPICS, dlq_topic
from shared.db import advisory_lock, create_pool, migrate, pending_migrations
from shared.dead_letters import DeadLetterVault
from shared.http import create_app, json_response
from shared.kafka import bootstrap_servers, ensure_topics, kafka_reachable
from shared.logging import configure_logging
from shared.outbox import OutboxRelay, make_producer
from shared.service_auth import TokenVerifier, auth_middleware
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)

# Each step of a stop gets this long: a broker that does not answer a consumer's leave-group,
# or a connection never given back to the pool, must not keep a stopping process alive
# past its orchestrator's grace period (Kubernetes: 30 s).
STOP_STEP_TIMEOUT_S = 8.0


async def _bounded(step: str, work: Awaitable[Any]) -> bool:
    """Await `work` for at most STOP_STEP_TIMEOUT_S; False (logged) when it ran out."""
    try:
        await asyncio.wait_for(work, STOP_STEP_TIMEOUT_S)
        return True
    except TimeoutError:
        log.warning("stop step timed out; going on without it",
                    extra={"step": step, "timeout_s": STOP_STEP_TIMEOUT_S})
        return False

DepsT = TypeVar("DepsT")
BackgroundJob = Callable[["Service[Any]"], Awaitable[None]]
Hook = Callable[["Service[Any]"], Awaitable[None]]
# A day's work for one business date; it must change nothing when run again for that date.
DailyJob = Callable[["Service[Any]", date], Awaitable[object]]
# When a daily job is due: the business date to run at this moment, or None (not yet).
DueRule = Callable[[datetime], date | None]


def due_after(hour: int) -> DueRule:
    """Due once `hour` o'clock New York time has passed: that day's business date."""
    assert 0 <= hour <= 23, hour

    def rule(now: datetime) -> date | None:
        return business_today(now) if now.astimezone(NEW_YORK).hour >= hour else None
    return rule


def due_every_day(now: datetime) -> date:
    """Due as soon as the business date begins."""
    return business_today(now)


@dataclass
class ConsumerSpec:
    group_id: str
    topics: tuple[str, ...]
    handlers: dict[str, Handler] | None = None
    batch_handler: BatchHandler | None = None
    event_types: Sequence[str] | None = None
    max_records: int = 1000
    consumer: IdempotentConsumer | None = field(default=None, repr=False)


class Service(Generic[DepsT]):
    """One service process. Add consumers, routes and jobs, then `run()`; `DepsT` is the
    service's dependencies object (`deps`)."""

    def __init__(self, name: str, settings: ServiceSettings,
                 migrations: Path | None = None, *, produces: Sequence[str] = ()) -> None:
        self.name = name
        self.settings = settings
        self.migrations = migrations
        self.pool: asyncpg.Pool | None = None
        self.producer: AIOKafkaProducer | None = None
        self.kafka_auth = settings.kafka_auth()
        # FastStream takes a string as one address: a cluster's addresses go as a list.
        servers = bootstrap_servers(settings.kafka_bootstrap)
        self.broker = KafkaBroker(servers if len(servers) > 1 else servers[0], client_id=name,
                                  enable_idempotence=True, acks="all",
                                  security=self.kafka_auth.broker_security())
        # Every route but /healthz and /readyz answers only a caller with a token for this
        # service that the permission table lets use it.
        self.app = create_app(self.readiness, self.collect_metrics, name=name, auth=auth_middleware(
            name, TokenVerifier(name, settings.service_keys)))
        self.app[SERVICE] = self
        self.relay: OutboxRelay | None = None
        self.consumers: list[ConsumerSpec] = []
        self.jobs: list[BackgroundJob] = []
        self.startup_hooks: list[Hook] = []
        self.cleanup_hooks: list[Hook] = []
        self.scrape_hooks: list[Hook] = []
        self._deps: DepsT | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._runner: web.AppRunner | None = None
        self._started = False
        self._kafka_ok_at = 0.0
        self.start_steps: dict[str, float] = {}  # step -> seconds since the process began
        self._consumers_task: asyncio.Task[None] | None = None
        self._consumers_failed = False
        for topic in produces:  # documents what this service publishes in its AsyncAPI
            self.broker.publisher(topic, title=f"{topic}:publish", schema=Envelope,
                                  description=f"Event types: {', '.join(TOPICS[topic].event_types)}")
        self.app.router.add_get("/asyncapi.json", self._asyncapi)

    # ------------------------------------------------------------- dependencies
    def provide(self, deps: DepsT) -> DepsT:
        """Sets what the use cases need (at build time, or in a startup hook when it needs
        the pool); returns it."""
        self._deps = deps
        return deps

    @property
    def deps(self) -> DepsT:
        """The service's dependencies; reading them before `provide()` is a defect."""
        if self._deps is None:
            raise RuntimeError(f"{self.name}: dependencies read before they were provided")
        return self._deps

    @property
    def deps_if_provided(self) -> DepsT | None:
        """The dependencies, or None when they were never provided (a start that failed
        before its startup hooks ran: cleanup hooks then have nothing to close)."""
        return self._deps

    # ------------------------------------------------------------- declaration
    def consume(self, group_id: str, *topics: str, handlers: dict[str, Handler] | None = None,
                batch_handler: BatchHandler | None = None,
                event_types: Sequence[str] | None = None, max_records: int = 1000) -> None:
        """Declare an idempotent consumer group. It is subscribed now (so the AsyncAPI
        document lists it) and gets its database pool and dead-letter producer at start."""
        spec = ConsumerSpec(group_id, topics, handlers, batch_handler, event_types, max_records)
        self.consumers.append(spec)
        if not self.settings.run_consumers:
            return
        spec.consumer = IdempotentConsumer(
            None, group_id, None, handlers=handlers, batch_handler=batch_handler,  # type: ignore[arg-type]
            event_types=event_types, attempts_max=self.settings.consumer_attempts_max,
            dead_letter_unknown=self.settings.consumer_dead_letter_unknown_types)
        subscribe(self.broker, spec.consumer, *topics, max_records=max_records,
                  offset_reset=self.settings.consumer_offset_reset,
                  session_timeout_ms=self.settings.consumer_session_timeout_ms,
                  heartbeat_interval_ms=self.settings.consumer_heartbeat_interval_ms)

    def job(self, fn: BackgroundJob) -> BackgroundJob:
        """Declare a coroutine that runs for the life of the process (a scheduler, say)."""
        self.jobs.append(fn)
        return fn

    def daily(self, name: str, lock_id: int, job: DailyJob, *, due: DueRule | None = None,
              hour: int | None = None, catch_up_days: int = 0, poll_s: float = 60.0,
              clock: Clock = business_now) -> BackgroundJob:
        """Declare a job run once per business date by one replica of the service.

        Every `poll_s` seconds the rule (`due`, or `due_after(hour)`, or else every day)
        names the business date due at `clock()`; that date and the `catch_up_days` before
        it, oldest first, are each run unless `daily_runs` records them done. A date is run
        while holding the advisory lock `lock_id` (one of `shared.locks`) for the whole job,
        re-checked under the lock, and recorded once the job returns; a replica that finds
        the lock taken tries again at its next poll. Nothing is remembered in memory, so
        every replica decides alike and a restarted one picks up where the database says.
        A job that fails is not recorded: the supervisor restarts the loop and the date is
        tried again. (The job must still be idempotent per date: an operator may run it
        from the CLI, and a replica can die after the job and before the record.)
        """
        assert due is None or hour is None, "a rule or an hour, not both"
        assert catch_up_days >= 0 and poll_s > 0, (catch_up_days, poll_s)
        rule = due or (due_after(hour) if hour is not None else due_every_day)

        async def daily_loop(svc: Service[Any]) -> None:
            while True:
                day = rule(clock())
                if day is not None:
                    for back in range(catch_up_days, -1, -1):
                        if not await svc.run_daily(name, lock_id, job, day - timedelta(days=back)):
                            break  # another replica is running the day's job: next poll
                await asyncio.sleep(poll_s)
        daily_loop.__name__ = daily_loop.__qualname__ = name
        return self.job(daily_loop)

    async def run_daily(self, name: str, lock_id: int, job: DailyJob, day: date) -> bool:
        """Run a daily job for `day` unless it is recorded done; False when another
        replica holds the lock (and the date may still be undone)."""
        assert self.pool is not None
        if await self.pool.fetchval(_DAILY_DONE, name, day):
            return True
        async with advisory_lock(self.pool, lock_id) as got:
            if not got:
                return False
            # The replica that held the lock a moment ago may have just finished this date.
            if await self.pool.fetchval(_DAILY_DONE, name, day):
                return True
            await job(self, day)
            await self.pool.execute("INSERT INTO daily_runs (name, business_date) VALUES ($1, $2)"
                                    " ON CONFLICT DO NOTHING", name, day)
        log.info("daily run done", extra={"job": name, "business_date": day.isoformat()})
        return True

    def on_startup(self, fn: Hook) -> Hook:
        self.startup_hooks.append(fn)
        return fn

    def on_cleanup(self, fn: Hook) -> Hook:
        self.cleanup_hooks.append(fn)
        return fn

    def on_scrape(self, fn: Hook) -> Hook:
        """A service's own gauges, set when /metrics is scraped (after the shared ones)."""
        self.scrape_hooks.append(fn)
        return fn

    def dead_letter_vault(self) -> DeadLetterVault:
        """Seals and opens the originals of this service's dead letters."""
        return DeadLetterVault(self.settings.dead_letter_keys, self.settings.dead_letter_key_id)

    def asyncapi(self) -> dict[str, Any]:
        spec = AsyncAPI(self.broker, title=f"{self.name} service events", version="1.0.0")
        document: dict[str, Any] = spec.to_specification().to_jsonable()
        return document

    async def _asyncapi(self, _: web.Request) -> web.Response:
        return json_response(self.asyncapi())

    # ------------------------------------------------------------- life cycle
    async def start(self, *, http: bool = True) -> None:
        s = self.settings
        steps = _StartSteps()
        self.pool = await create_pool(s.database_url, s.db_pool_min, s.db_pool_max)
        steps.done("postgres")
        await migrate(self.pool, self.migrations)
        steps.done("migrations")
        # Every consumer group's dead-letter topic exists before its first poison message.
        await ensure_topics(s.kafka_bootstrap,
                            extra={dlq_topic(spec.group_id): 1 for spec in self.consumers},
                            auth=self.kafka_auth)
        steps.done("topics")
        self.producer = make_producer(s.kafka_bootstrap, f"{self.name}-relay", self.kafka_auth)
        await self.producer.start()
        steps.done("producer")
        for hook in self.startup_hooks:
            await hook(self)
        steps.done("startup_hooks")
        for spec in self.consumers:
            if spec.consumer is not None:
                spec.consumer.pool = self.pool
                spec.consumer.dead_letters = DeadLetters(
                    self.producer, spec.group_id, pool=self.pool, vault=self.dead_letter_vault())
        # The consumer groups are joined in the background: after a crash, the group waits
        # for the dead member's session to time out before it hands out partitions again,
        # seconds the HTTP side need not wait (its readiness does not depend on the group).
        self._consumers_task = asyncio.create_task(self._start_consumers(steps.origin),
                                                   name=f"{self.name}-consumers")
        if s.run_relay:
            self.relay = OutboxRelay(self.pool, self.producer)
            self._tasks.append(asyncio.create_task(self.relay.run(), name=f"{self.name}-relay"))
        for job in self.jobs:
            self._tasks.append(asyncio.create_task(self._supervise(job), name=job.__name__))
        if http:
            self._runner = web.AppRunner(self.app, access_log=None)
            await self._runner.setup()
            await web.TCPSite(self._runner, s.http_host, s.http_port, backlog=1024).start()
        steps.done("http")
        self._started = True
        self.start_steps = steps.seconds
        log.info("service started", extra={"port": s.http_port if http else None,
                                           "start_steps_s": steps.seconds})

    async def _start_consumers(self, origin: float) -> None:
        try:
            await self.broker.start()
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - /readyz says so; the supervisor restarts us
            self._consumers_failed = True
            log.exception("consumers failed to start")
            return
        self.start_steps["consumers_joined"] = round(time.monotonic() - origin, 3)
        log.info("consumers joined", extra={"start_steps_s": self.start_steps})

    async def _supervise(self, job: BackgroundJob) -> None:
        """Restart a background job that crashed, after a pause; stop quietly on cancel."""
        while True:
            try:
                await job(self)
                return
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - logged; the job restarts
                log.exception("background job failed; restarting", extra={"job": job.__name__})
                metrics.BACKGROUND_RESTARTS.labels(job.__name__).inc()
                await asyncio.sleep(2.0)

    async def stop(self) -> None:
        self._started = False
        if self._consumers_task is not None:
            self._consumers_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._consumers_task
            self._consumers_task = None
        if self.relay:
            self.relay.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self._runner:
            await _bounded("http", self._runner.cleanup())
        await _bounded("kafka consumers", self.broker.stop())
        for hook in reversed(self.cleanup_hooks):
            with contextlib.suppress(Exception):
                await _bounded("cleanup hook", hook(self))
        if self.producer:
            await _bounded("kafka producer", self.producer.stop())
        if self.pool and not await _bounded("database pool", self.pool.close()):
            self.pool.terminate()  # a connection still held: closed without waiting for it
        log.info("service stopped")

    def consumers_assigned(self) -> bool:
        """True once every subscriber's consumer holds partitions (tests wait for this
        before publishing, so a first event is not read before the group settles)."""
        consumers = [_kafka_consumer(sub) for sub in self.broker.subscribers]
        return all(consumer is not None and consumer.assignment() for consumer in consumers)

    async def wait_until_consuming(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.consumers_assigned():
            if self._consumers_failed:
                raise RuntimeError(f"{self.name}: consumers failed to start")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: consumers not assigned in {timeout_s} s")
            await asyncio.sleep(0.05)
        # Resolve every partition's starting position now: with offset reset "latest" an
        # event published before the position is looked up would otherwise be skipped.
        for sub in self.broker.subscribers:
            consumer = _kafka_consumer(sub)
            for tp in consumer.assignment():
                await consumer.position(tp)

    async def readiness(self) -> dict[str, bool]:
        checks = {"started": self._started, "postgres": False, "migrations": False, "kafka": False,
                  "consumers": not self._consumers_failed}
        if self.pool is not None:
            try:
                async with self.pool.acquire(timeout=2) as conn:
                    checks["postgres"] = await conn.fetchval("SELECT true")
                checks["migrations"] = not await pending_migrations(self.pool, self.migrations)
            except Exception:  # noqa: BLE001 - not ready
                pass
        # The broker check opens a connection; cache a success for a few seconds.
        if time.monotonic() - self._kafka_ok_at < 5:
            checks["kafka"] = True
        elif await kafka_reachable(self.settings.kafka_bootstrap, self.kafka_auth):
            self._kafka_ok_at = time.monotonic()
            checks["kafka"] = True
        return checks

    async def collect_metrics(self) -> None:
        """Gauges read when /metrics is scraped: the outbox's backlog and the age of its
        oldest row, the latest business date each daily job completed (services with a
        `job_runs` table), and each assigned partition's lag. (Dead letters are counted as
        they are sent: `events_consumed_total{outcome="dead_lettered"}`.)"""
        if self.pool is not None:
            row = await self.pool.fetchrow(
                "SELECT count(*) AS n, coalesce(extract(epoch FROM now() - min(created_at)), 0)"
                " AS age FROM outbox", timeout=2)
            metrics.OUTBOX_BACKLOG.set(row["n"])
            metrics.OUTBOX_OLDEST_AGE.set(float(row["age"]))
            if await self.pool.fetchval("SELECT to_regclass('job_runs') IS NOT NULL", timeout=2):
                for r in await self.pool.fetch(
                        "SELECT job, extract(epoch FROM max(business_date)::timestamp) AS day"
                        " FROM job_runs GROUP BY job", timeout=2):
                    metrics.JOB_LAST_DATE.labels(r["job"]).set(float(r["day"]))
        metrics.CONSUMER_LAG.clear()
        for group, consumer in faststream_adapter.subscriber_consumers(self.broker):
            for tp in consumer.assignment():
                highwater = consumer.highwater(tp)
                if highwater is None:  # nothing fetched yet from this partition
                    continue
                position = await consumer.position(tp)
                metrics.CONSUMER_LAG.labels(group, tp.topic, str(tp.partition)).set(
                    max(0, highwater - position))
        for hook in self.scrape_hooks:
            await hook(self)

    def run(self) -> None:
        """Run until SIGINT or SIGTERM, then stop cleanly."""
        configure_logging(self.name, self.settings.log_level)
        tracing.configure(self.name, self.settings.otel_exporter_otlp_endpoint)
        process.prepare()
        asyncio.run(self._main())

    async def _main(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await self.start()
        process.settle()
        await stop.wait()
        await self.stop()
        tracing.shutdown()


_DAILY_DONE = "SELECT true FROM daily_runs WHERE name = $1 AND business_date = $2"

# The Service an app belongs to, for routes that need its pool or dependencies.
SERVICE: web.AppKey[Service[Any]] = web.AppKey("service")


def _kafka_consumer(subscriber: object) -> Any:
    """The aiokafka consumer a started FastStream subscriber reads with (None before it
    starts); FastStream keeps it on the subscriber without declaring it in its types."""
    return getattr(subscriber, "consumer", None)


class _StartSteps:
    """When each step of `Service.start` finished, in seconds since the process began
    (imports included, from /proc where there is one; else since `start` was called)."""

    def __init__(self) -> None:
        self.origin = time.monotonic() - _process_age_s()
        self.seconds: dict[str, float] = {"start_called": round(time.monotonic() - self.origin, 3)}

    def done(self, step: str) -> None:
        self.seconds[step] = round(time.monotonic() - self.origin, 3)


def _process_age_s() -> float:
    try:
        with open("/proc/self/stat", "rb") as f:
            started_ticks = int(f.read().rsplit(b")", 1)[1].split()[19])
        with open("/proc/uptime", "rb") as f:
            uptime_s = float(f.read().split()[0])
        return max(0.0, uptime_s - started_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0
