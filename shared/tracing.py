"""Traces with OpenTelemetry: one trace per member action, across HTTP and Kafka.

The W3C trace context (`traceparent`) travels in HTTP headers between the gateway and the
services, in the outbox row of each event the action causes, in the Kafka record's headers
the relay publishes, and in the consumer's span around each event's handler, so everything
an action sets off (the payment, billing's ledger entry, notify's email) is one trace.
Log lines written inside a span carry its `trace_id` and `span_id`.

Off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set (spans then go over OTLP/HTTP in batches):
while off, `span()` does nothing and no trace context is stored or sent, so the hot paths
pay one boolean test. Tests turn it on with an in-memory exporter (`configure(exporter=...)`).
"""
from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import Link, Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

HEADER = "traceparent"
_PROPAGATOR = TraceContextTextMapPropagator()
_provider: TracerProvider | None = None
_tracers: dict[str, trace.Tracer] = {}
_LINKS_MAX = 128  # a batch span links to at most this many of its events' traces


def configure(service: str, endpoint: str | None = None, *,
              exporter: SpanExporter | None = None) -> bool:
    """Turn tracing on for this process when an OTLP endpoint (or, in tests, an exporter)
    is given; returns whether it is on. A second call adds its exporter to the same
    provider (several services started in one test process share it)."""
    global _provider
    if not endpoint and exporter is None:
        return enabled()
    if _provider is None:
        _provider = TracerProvider(resource=Resource.create({"service.name": service}))
    if exporter is not None:
        _provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        assert endpoint, "without an exporter, tracing is on only with an endpoint"
        url = endpoint.rstrip("/")
        url = url if url.endswith("/v1/traces") else url + "/v1/traces"
        _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url)))
    return True


def disable() -> None:
    """Turn tracing off again (tests that turned it on in-process)."""
    global _provider
    if _provider is not None:
        _provider.shutdown()
    _provider = None
    _tracers.clear()


def enabled() -> bool:
    return _provider is not None


def shutdown() -> None:
    """Flush what is still buffered (a stopping process)."""
    if _provider is not None:
        _provider.force_flush(5_000)


def _tracer(service: str) -> trace.Tracer:
    tracer = _tracers.get(service)
    if tracer is None:
        assert _provider is not None
        tracer = _tracers[service] = _provider.get_tracer(service)
    return tracer


@contextlib.contextmanager
def span(service: str, name: str, *, parent: str | None = None,
         kind: SpanKind = SpanKind.INTERNAL, attributes: Mapping[str, Any] | None = None,
         links: Sequence[str] = ()) -> Iterator[Span | None]:
    """A span of `service`, child of the current one, or of `parent` (a traceparent from a
    header or a stored event) when given; `links` are traceparents it relates to (the
    events of one batch). Yields None while tracing is off."""
    if _provider is None:
        yield None
        return
    context = _PROPAGATOR.extract({HEADER: parent}) if parent else None
    attrs = {"service.name": service, **(attributes or {})}
    related = [Link(trace.get_current_span(_PROPAGATOR.extract({HEADER: tp})).get_span_context())
               for tp in links[:_LINKS_MAX]]
    with _tracer(service).start_as_current_span(name, context=context, kind=kind,
                                                attributes=attrs, links=related) as current:
        yield current


def current_traceparent() -> str | None:
    """The current span's W3C traceparent, to store with an event or send on a call; None
    while tracing is off or outside any span."""
    if _provider is None:
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get(HEADER)


_batch_parents: contextvars.ContextVar[Mapping[Any, str | None]] = contextvars.ContextVar(
    "batch_parents", default=MappingProxyType({}))


@contextlib.contextmanager
def batch_parents(parents: Mapping[Any, str | None]) -> Iterator[None]:
    """While a batch handler runs: each event's receipt span, by event id."""
    token = _batch_parents.set(parents)
    try:
        yield
    finally:
        _batch_parents.reset(token)


def parent_of(event_id: Any) -> str | None:
    """The traceparent to store with what a batch handler makes of one event (a
    notification, say), so later work on it continues the event's trace; else the
    current span's."""
    if _provider is None:
        return None
    return _batch_parents.get().get(event_id) or current_traceparent()


def log_ids() -> dict[str, str]:
    """The current span's trace and span ids, for a log line (empty outside a span)."""
    if _provider is None:
        return {}
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return {}
    return {"trace_id": format(ctx.trace_id, "032x"), "span_id": format(ctx.span_id, "016x")}


def record_header(headers: Any) -> str | None:
    """The traceparent among a Kafka record's headers ((name, bytes) pairs), if any."""
    for name, value in headers or ():
        if name == HEADER and value:
            return str(value.decode("ascii", "replace"))
    return None
