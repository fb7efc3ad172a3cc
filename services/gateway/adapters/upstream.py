"""HTTP calls to the services behind the gateway, with per-call timeouts.

Every call carries the gateway's service token for the called service (shared/service_auth.py),
minted once a minute per service and reused until near its expiry. An upstream 4xx error is
passed on as `Refused`, with the service's status, code, message, fields and extra facts (the
services already speak the public error shape); a timeout, a refused connection or a 5xx
becomes `ServiceDown`, which callers turn into a partial answer with a notice or a 503.

A service may be given as several replicas, a comma-separated list of base URLs. Calls go
to them in turn; a call that is safe to repeat (a GET, or a POST that carries an
idempotency key) and finds a replica refusing or dropping the connection is sent to the
next one, so a killed replica costs its callers nothing. Other calls are not repeated: a
payment without a key that may have been taken must not be taken twice.

`is_up(service)` is what the gateway last learnt of a service: from its calls, and from a
probe of `/healthz` every `probe_interval_s` (`watch`), so it notices a service that stopped
even when nothing has called it (the account cache serves copies only while both sources
answer). A service is down when it refuses or drops connections or answers 5xx, or when
`PROBE_TIMEOUTS_MAX` probes in a row get no answer in time (a hung process). A call that
times out is not enough: under load calls queue (in this pool and in the service), and
taking a busy service for a stopped one switched the account cache off, sending every read
to the services, exactly when they were busiest. Probes have connections of their own, so
they never wait behind the requests they are meant to judge.
"""
from __future__ import annotations

import asyncio
import contextvars
import logging
from typing import Any

import aiohttp
import orjson

from shared import tracing
from shared.errors import DomainError
from shared.logging import current_context
from shared.service_auth import TokenSigner

log = logging.getLogger(__name__)
# The member's address, set per request by the gateway and passed on as X-Forwarded-For
# (payments records it with an authorization; identity throttles by it).
client_address: contextvars.ContextVar[str | None] = contextvars.ContextVar("client_address", default=None)


class ServiceDown(Exception):
    def __init__(self, service: str, reason: str) -> None:
        super().__init__(f"{service}: {reason}")
        self.service = service
        self.reason = reason


class Refused(DomainError):
    """A service's 4xx answer: its code, message, fields and extra facts, and its status,
    which the gateway's answer keeps."""

    def __init__(self, status: int, code: str, message: str,
                 fields: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message, fields, code=code, **extra)
        self.status = status


class _Unreachable(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Upstreams:
    """One pooled aiohttp client for every service; `call()` returns the JSON body."""

    def __init__(self, urls: dict[str, str], timeout_s: float, connections: int,
                 signer: TokenSigner) -> None:
        self.replicas = {k: [u.strip().rstrip("/") for u in v.split(",") if u.strip()]
                         for k, v in urls.items()}
        assert all(self.replicas.values()), "every service needs at least one URL"
        self.urls = {k: v[0] for k, v in self.replicas.items()}  # the first, for probes
        self._turn = dict.fromkeys(self.replicas, 0)
        self.signer = signer
        self.timeout_s = timeout_s
        self.connections = connections
        self.http: aiohttp.ClientSession | None = None
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}
        self._down: set[str] = set()

    PROBE_TIMEOUTS_MAX = 3

    def is_up(self, service: str) -> bool:
        return service not in self._down

    async def watch(self, services: tuple[str, ...], interval_s: float) -> None:
        """Probe each service's /healthz forever (run as a task; cancel to stop). A stopped
        service refuses at once; a slow answer under load is still an answer (the same
        timeout as a call), and only `PROBE_TIMEOUTS_MAX` probes in a row without one take
        the service for hung."""
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        timeouts = dict.fromkeys(services, 0)
        connector = aiohttp.TCPConnector(limit=2 * len(services))
        async with aiohttp.ClientSession(connector=connector) as probes:
            while True:
                for service in services:
                    healthy, timed_out = False, False
                    for base in self.replicas[service]:  # up while one replica answers
                        try:
                            async with probes.get(base + "/healthz", timeout=timeout) as resp:
                                await resp.read()
                                healthy = resp.status < 500
                        except TimeoutError:
                            timed_out = True
                        except aiohttp.ClientError:
                            pass
                        if healthy:
                            break
                    if healthy:
                        timeouts[service] = 0
                        self._mark(service, True)
                    elif timed_out:  # no answer in time: hung only after several in a row
                        timeouts[service] += 1
                        if timeouts[service] >= self.PROBE_TIMEOUTS_MAX:
                            self._mark(service, False)
                    else:  # refused, reset or 5xx: stopped
                        timeouts[service] = 0
                        self._mark(service, False)
                await asyncio.sleep(interval_s)

    def _mark(self, service: str, healthy: bool) -> None:
        if healthy:
            self._down.discard(service)
        elif service not in self._down:
            self._down.add(service)
            log.warning("service not answering", extra={"service": service})

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=self.connections, limit_per_host=self.connections,
                                         ttl_dns_cache=300)
        self.http = aiohttp.ClientSession(connector=connector, json_serialize=lambda o: orjson.dumps(o).decode())

    async def close(self) -> None:
        if self.http is not None:
            await self.http.close()

    async def call(self, service: str, method: str, path: str, *, json: Any = None,
                   params: dict[str, str] | None = None, timeout_s: float | None = None,
                   raw: bool = False, with_status: bool = False) -> Any:
        """The JSON body (with `with_status`, `(status, body)`; with `raw`, `(status,
        content type, bytes)`)."""
        assert self.http is not None, "Upstreams.start() first"
        headers = self.signer.headers(service)
        request_id = current_context().get("request_id")
        if request_id:
            headers["X-Request-Id"] = request_id
        address = client_address.get()
        if address:
            headers["X-Forwarded-For"] = address
        traceparent = tracing.current_traceparent()
        if traceparent:
            headers[tracing.HEADER] = traceparent
        seconds = timeout_s or self.timeout_s
        timeout = self._timeouts.get(seconds) or self._timeouts.setdefault(
            seconds, aiohttp.ClientTimeout(total=seconds))
        replicas = self.replicas[service]
        first = self._turn[service] = (self._turn[service] + 1) % len(replicas)
        repeatable = method == "GET" or (isinstance(json, dict) and bool(json.get("idempotency_key")))
        for n in range(len(replicas)):
            url = replicas[(first + n) % len(replicas)] + path
            try:
                status, data = await self._call_one(service, method, url, path, json, params,
                                                     headers, timeout, raw)
                return data if raw or not with_status else (status, data)
            except _Unreachable as exc:
                if not repeatable or n == len(replicas) - 1:
                    self._mark(service, False)
                    raise ServiceDown(service, exc.reason) from None
                log.warning("replica unreachable; trying the next", extra={
                    "service": service, "error": exc.reason})
        raise AssertionError("unreachable")

    async def _call_one(self, service: str, method: str, url: str, path: str, json: Any,
                        params: dict[str, str] | None, headers: dict[str, str],
                        timeout: aiohttp.ClientTimeout, raw: bool) -> tuple[int, Any]:
        try:
            async with self.http.request(method, url, json=json, params=params, headers=headers,
                                         timeout=timeout) as resp:
                body = await resp.read()
                if resp.status >= 500:
                    self._mark(service, False)
                    raise ServiceDown(service, f"status {resp.status}")
                self._mark(service, True)
                if raw and resp.status < 400:
                    return resp.status, (resp.status, resp.headers.get("Content-Type", ""), body)
                data = orjson.loads(body) if body else {}
                if resp.status >= 400:
                    error = data.get("error", {}) if isinstance(data, dict) else {}
                    extra = {k: v for k, v in error.items() if k not in ("code", "message", "fields")}
                    raise Refused(resp.status, error.get("code", "upstream_error"),
                                   error.get("message", "The request was refused."),
                                   error.get("fields") or {}, **extra)
                return resp.status, data
        except (aiohttp.ClientConnectorError, aiohttp.ServerDisconnectedError,
                ConnectionResetError) as exc:
            # Refused or reset: the replica is not there (a killed process), so the request
            # may not have been read at all; safe to send elsewhere when it can be repeated.
            raise _Unreachable(type(exc).__name__) from None
        except TimeoutError:
            # Slow, not stopped: this caller gets its partial answer, the service stays up
            # for everyone else (the probes judge a hung one).
            log.warning("upstream call timed out", extra={
                "service": service, "path": path.split("/")[1] if "/" in path else path})
            raise ServiceDown(service, "TimeoutError") from None
        except (aiohttp.ClientError, orjson.JSONDecodeError) as exc:
            log.warning("upstream call failed", extra={"service": service, "path": path.split("/")[1] if "/" in path else path,
                                                       "error": type(exc).__name__})
            self._mark(service, False)
            raise ServiceDown(service, type(exc).__name__) from None
