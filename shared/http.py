"""The aiohttp pieces every service shares: JSON errors, request ids, metrics, health.

Every service answers `GET /healthz` (the process is alive), `GET /readyz` (PostgreSQL and
Kafka reachable, migrations applied; consumers not failed: their group is joined in the
background) and `GET /metrics` (Prometheus).
`create_app(readiness, auth=...)` puts a caller check (shared/service_auth.py) right after
the error handling, so its refusals are JSON errors counted like any other answer.
Errors are always `{"error": {"code", "message", "fields"}}`, never a stack trace.
"""
from __future__ import annotations

import functools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from opentelemetry.trace import SpanKind
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError

from shared import metrics, tracing
from shared.errors import DomainError, error_body
from shared.logging import log_context

log = logging.getLogger(__name__)

# The request's id (the caller's X-Request-Id, or a new one), for the routes and the logs.
REQUEST_ID = web.RequestKey("request_id", str)

ReadinessCheck = Callable[[], Awaitable[dict[str, bool]]]
MetricsCollector = Callable[[], Awaitable[None]]


class ApiError(Exception):
    """An expected failure with a status, a stable code and a plain-words message."""

    def __init__(self, status: int, code: str, message: str,
                 fields: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or {}
        self.extra = extra


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, headers=headers,
                        content_type="application/json")


def error_response(status: int, code: str, message: str,
                   fields: dict[str, str] | None = None, **extra: Any) -> web.Response:
    return json_response(error_body(code, message, fields, **extra), status=status)


Route = Callable[[web.Request], Awaitable[web.StreamResponse]]
# A service's HTTP status for each of its domain error classes; a subclass not named
# takes the status of its nearest named base.
Statuses = Mapping[type[DomainError], int]


def status_of(exc: DomainError, statuses: Statuses) -> int | None:
    for cls in type(exc).__mro__:
        if cls in statuses:
            return statuses[cls]
    return None


def translated(statuses: Statuses) -> Callable[[Route], Route]:
    """A route decorator: a domain error raised under the route is answered as
    `{"error": {"code", "message", "fields", ...extra}}` with the status `statuses` gives
    its class. An error no status is given for is a defect, not an expected failure: it
    goes on to errors_middleware, which logs it and answers 500."""

    def decorate(fn: Route) -> Route:
        @functools.wraps(fn)
        async def wrapper(request: web.Request) -> web.StreamResponse:
            try:
                return await fn(request)
            except DomainError as exc:
                status = status_of(exc, statuses)
                if status is None:
                    raise
                return json_response(exc.body(), status=status)
        return wrapper
    return decorate


def validation_fields(exc: ValidationError) -> dict[str, str]:
    """Pydantic errors as {field path: plain message}; input values are never echoed."""
    fields: dict[str, str] = {}
    for err in exc.errors(include_input=False, include_url=False):
        path = ".".join(str(p) for p in err["loc"]) or "body"
        fields.setdefault(path, err["msg"].removeprefix("Value error, "))
    return fields


async def read_json(request: web.Request) -> Any:
    """The request's JSON body, or a 422 that says the body is not JSON."""
    raw = await request.read()
    if len(raw) > 64 * 1024:
        raise ApiError(413, "body_too_large", "The request body is too large.")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ApiError(422, "invalid_json", "The request body must be valid JSON.") from None


def tracing_middleware(service: str) -> Middleware:
    """A server span per request, child of the caller's `traceparent` (tracing on only)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not tracing.enabled():
            return await handler(request)
        resource = request.match_info.route.resource
        route = resource.canonical if resource else "unmatched"
        with tracing.span(service, f"{request.method} {route}", parent=request.headers.get(tracing.HEADER),
                          kind=SpanKind.SERVER,
                          attributes={"http.request.method": request.method, "http.route": route}) as span:
            response = await handler(request)
            if span is not None:  # tracing was on when the request came in
                span.set_attribute("http.response.status_code", response.status)
            return response

    return middleware


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = request.headers.get("X-Request-Id") or str(uuid.uuid4())
    request[REQUEST_ID] = request_id
    route = request.match_info.route.resource.canonical if request.match_info.route.resource else "unmatched"
    started = time.perf_counter()
    status = 500
    with log_context(request_id=request_id):
        try:
            response = await handler(request)
            status = response.status
        except ApiError as exc:
            response = error_response(exc.status, exc.code, exc.message, exc.fields, **exc.extra)
            status = exc.status
        except ValidationError as exc:
            response = error_response(422, "invalid_input", "Some fields are not valid.",
                                      validation_fields(exc))
            status = 422
        except web.HTTPException as exc:
            status = exc.status
            if exc.status < 400:
                raise
            response = error_response(exc.status, exc.reason.lower().replace(" ", "_"), exc.reason)
            if "Allow" in exc.headers:  # a 405 says which methods the resource takes
                response.headers["Allow"] = exc.headers["Allow"]
        except Exception:  # noqa: BLE001 - logged with its trace, answered without it
            log.exception("unhandled error", extra={"path": request.path})
            response = error_response(500, "internal_error",
                                      "Something went wrong on our side. Please try again.")
        metrics.HTTP_REQUESTS.labels(route, str(status)).inc()
        metrics.HTTP_LATENCY.labels(route).observe(time.perf_counter() - started)
        response.headers["X-Request-Id"] = request_id
        return response


SERVER_HEADER = "premium-portal"


async def _plain_server_header(_: web.Request, response: web.StreamResponse) -> None:
    """No answer names the language, framework or their versions (aiohttp would send
    `Python/3.11 aiohttp/x.y.z`; it only fills the header when nothing set it)."""
    response.headers["Server"] = SERVER_HEADER


def create_app(readiness: ReadinessCheck, collect: MetricsCollector | None = None, *,
               name: str = "service", auth: Middleware | None = None) -> web.Application:
    """The app of service `name` with /healthz, /readyz and /metrics; `collect` refreshes
    the gauges that are read at scrape time (outbox backlog, lag) before /metrics answers;
    `auth` checks the caller right after the error handling."""
    middlewares: list[Middleware] = [tracing_middleware(name), errors_middleware]
    if auth is not None:
        middlewares.append(auth)
    app = web.Application(middlewares=middlewares, client_max_size=1024 * 1024)
    app.on_response_prepare.append(_plain_server_header)

    async def healthz(_: web.Request) -> web.Response:
        return json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        checks = await readiness()
        ok = all(checks.values())
        return json_response({"status": "ready" if ok else "not_ready", "checks": checks},
                             status=200 if ok else 503)

    async def metrics_view(_: web.Request) -> web.Response:
        if collect is not None:
            try:
                await collect()
            except Exception:  # noqa: BLE001 - the counters still answer; the gauges keep their last values
                log.warning("metrics collection failed", exc_info=True)
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_view)
    return app
