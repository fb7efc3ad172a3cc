"""What the relay's business counters show after it publishes a batch of events."""
from __future__ import annotations

import orjson
from prometheus_client import REGISTRY

from shared import business_metrics
from shared.contracts import billing, notify, payments


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _row(event_type: str, **data: object) -> dict[str, object]:
    return {"event_type": event_type, "payload": orjson.dumps({"event_type": event_type, "data": data})}


def _readings() -> list[float]:
    """The counters the test's batch moves, in one order."""
    return [_value("payments_total", kind="recurring", rail="ach", status="settled"),
            _value("payments_cents_total", kind="recurring", rail="ach", status="settled"),
            _value("payments_total", kind="one_time", rail="card", status="submitted"),
            _value("ach_returns_total", code="R01"),
            _value("notifications_total", type=payments.PAYMENT_SETTLED, channel="email",
                   outcome="sent"),
            _value("invoices_issued_total", kind="binder"),
            _value("autopay_mandates_total", change="created")]


def test_a_batch_counts_each_payment_notification_and_invoice_once_with_its_cents() -> None:
    before = _readings()
    rows = [_row(payments.PAYMENT_SETTLED, kind="recurring", amount_cents=12_345,
                 method={"type": "checking", "last4": "6789"}) for _ in range(3)]
    rows += [_row(payments.PAYMENT_SUBMITTED, kind="one_time", amount_cents=500,
                  method={"type": "card", "last4": "4242"}),
             _row(payments.PAYMENT_RETURNED, kind="recurring", amount_cents=100,
                  method={"type": "savings", "last4": "1111"}, return_code="R01"),
             _row(notify.NOTIFICATION_SENT, source_event_type=payments.PAYMENT_SETTLED,
                  channel="email"),
             _row(billing.INVOICE_ISSUED, kind="binder"),
             _row(payments.AUTOPAY_CREATED),
             _row("something.else", amount_cents=1)]
    business_metrics.observe(rows)
    after = _readings()
    assert [a - b for a, b in zip(after, before)] == [3, 3 * 12_345, 1, 1, 1, 1, 1]
