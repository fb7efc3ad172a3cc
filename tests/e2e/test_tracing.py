"""One member action is one trace: a guest payment followed from the gateway's request
through payments' API, the outbox and Kafka, into billing's and notify's consumers and
notify's SMTP send, as the stack's processes export it over OTLP (tests/stack.py keeps the
spans it receives)."""
from __future__ import annotations

import asyncio
import secrets
import time
import uuid

import aiohttp

from tests.gateway.test_stack_api import BANK, lookup


async def test_a_guest_payment_is_one_connected_trace(stack):
    member = await stack.seed_member(shopped_hours_ago=5)
    trace_id, root_span = secrets.token_hex(16), secrets.token_hex(8)
    async with aiohttp.ClientSession() as http:
        found = await lookup(http, stack, member)
        ban = found["billing_account_number"]
        body = {"billing_account_number": ban, "kind": "one_time", "amount": "10.00", "method": BANK,
                "contact": {"email": member["email"], "email_confirmation": member["email"],
                            "phone": member["phone"]}}
        headers = {"Authorization": f"Bearer {found['lookup_token']}",
                   "Idempotency-Key": str(uuid.uuid4()),
                   "traceparent": f"00-{trace_id}-{root_span}-01"}
        async with http.post(f"{stack.gateway_url}/api/v1/payments", json=body, headers=headers) as r:
            assert r.status == 201, await r.text()

    wanted = {("gateway", "POST /api/v1/payments"), ("payments", "POST /payments"),
              ("billing", "consume payment.submitted"), ("notify", "consume payment.submitted"),
              ("notify", "send email")}
    deadline = time.monotonic() + 60  # billing and notify may be behind on a busy machine
    while time.monotonic() < deadline:
        spans = stack.traces.of_trace(trace_id)
        if wanted <= {(s["service"], s["name"]) for s in spans}:
            break
        await asyncio.sleep(0.2)
    seen = {(s["service"], s["name"]) for s in spans}
    assert wanted <= seen, f"missing {wanted - seen}; seen {sorted(seen)}"
    # Connected: every span's parent is the caller's span or another span of the trace.
    ids = {s["span_id"] for s in spans} | {root_span}
    assert all(s["parent_span_id"] in ids for s in spans), spans
    by_name = {(s["service"], s["name"]): s for s in spans}
    gateway = by_name[("gateway", "POST /api/v1/payments")]
    assert gateway["parent_span_id"] == root_span
    assert by_name[("payments", "POST /payments")]["parent_span_id"] == gateway["span_id"]
    # The consumers continue the span that wrote the event: payments' request.
    payments_span = by_name[("payments", "POST /payments")]["span_id"]
    for consumer in (("billing", "consume payment.submitted"), ("notify", "consume payment.submitted")):
        assert by_name[consumer]["parent_span_id"] == payments_span
    # notify's SMTP send continues its receipt of the event: the email is in the trace.
    assert by_name[("notify", "send email")]["parent_span_id"] == \
        by_name[("notify", "consume payment.submitted")]["span_id"]
