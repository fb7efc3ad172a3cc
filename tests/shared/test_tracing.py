"""Tracing in one process: off by default (nothing stored or sent), and when on, spans
continue a caller's traceparent, events carry it through the outbox, and log lines name
the trace."""
from __future__ import annotations

import logging

import orjson
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared import tracing
from shared.contracts.envelope import Envelope
from shared.db import create_pool, migrate
from shared.logging import JsonFormatter
from shared.outbox import enqueue_many

CALLER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_off_by_default_nothing_is_recorded():
    assert not tracing.enabled()
    with tracing.span("svc", "work", parent=CALLER) as span:
        assert span is None
        assert tracing.current_traceparent() is None
        assert tracing.log_ids() == {}


async def test_on_spans_continue_the_caller_and_reach_the_outbox_and_the_logs(fresh_db):
    exporter = InMemorySpanExporter()
    assert tracing.configure("svc", exporter=exporter)
    pool = await create_pool(fresh_db)
    try:
        await migrate(pool, None)
        with tracing.span("svc", "handle request", parent=CALLER):
            traceparent = tracing.current_traceparent()
            record = logging.makeLogRecord({"msg": "inside", "levelno": 20, "levelname": "INFO"})
            line = orjson.loads(JsonFormatter("svc").format(record))
            async with pool.acquire() as conn:
                await enqueue_many(conn, [Envelope(event_type="payment.submitted", producer="svc",
                                             key="7000000001", data={})])
        stored = await pool.fetchval("SELECT traceparent FROM outbox")
    finally:
        await pool.close()
        tracing.disable()
    (span,) = exporter.get_finished_spans()
    assert format(span.context.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
    assert format(span.parent.span_id, "016x") == "b7ad6b7169203331"
    assert traceparent.split("-")[1] == "0af7651916cd43dd8448eb211c80319c"
    assert stored == traceparent
    assert line["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert line["span_id"] == format(span.context.span_id, "016x")
