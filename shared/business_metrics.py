"""Business metrics, counted from the events a service publishes.

The outbox relay calls `observe` for each event once Kafka has confirmed it and its outbox
row is deleted, so a count is an event subscribers can see: a transaction that rolled back
counts nothing, and only a relay that dies between Kafka's confirmation and its commit
counts a batch twice (it is published twice too). Each counter lives in the process of the
relay that published it: sum them over a service's replicas.

Only the types named in `_OBSERVERS` are parsed again; the relay passes every other event
by. Labels are small fixed sets (statuses, codes, channels, event types), never an account.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from prometheus_client import Counter

from shared.contracts import billing, notify, payments

PAYMENTS = Counter("payments_total",
                   "Payments by kind, rail (ach, card) and status (submitted, settled, failed, returned)",
                   ["kind", "rail", "status"])
# The rail a payment went by, from its method's type: bank accounts are ACH debits; checks
# and money orders came through the lockbox (or a counter) and have a rail of their own.
RAIL_OF_METHOD = {"card": "card", "check": "lockbox", "money_order": "lockbox"}
PAYMENTS_CENTS = Counter("payments_cents_total", "Cents of payments by kind, rail and status",
                         ["kind", "rail", "status"])
ACH_RETURNS = Counter("ach_returns_total", "ACH returns by return code", ["code"])
ACH_NOCS = Counter("ach_nocs_total", "ACH notifications of change by code", ["code"])
AUTOPAY_DRAFTS = Counter("autopay_drafts_total", "Autopay drafts by cycle (YYYY-MM)", ["cycle"])
AUTOPAY_MANDATES = Counter("autopay_mandates_total", "Autopay mandates created and cancelled",
                           ["change"])
INVOICES = Counter("invoices_issued_total", "Invoices issued by kind (binder, monthly)", ["kind"])
DELINQUENCY = Counter("delinquency_notices_total", "Delinquency stages reached", ["stage"])
TERMINATIONS = Counter("coverage_terminations_total", "Coverage terminated by reason", ["reason"])
NOTIFICATIONS = Counter("notifications_total", "Notifications by source event type, channel and outcome",
                        ["type", "channel", "outcome"])


def _payment(status: str) -> Callable[[dict[str, Any]], None]:
    def observe(data: dict[str, Any]) -> None:
        kind = data.get("kind") or "unknown"
        rail = RAIL_OF_METHOD.get(str((data.get("method") or {}).get("type")), "ach")
        PAYMENTS.labels(kind, rail, status).inc()
        PAYMENTS_CENTS.labels(kind, rail, status).inc(int(data.get("amount_cents") or 0))
        if status == "submitted" and data.get("channel") == "autopay":
            AUTOPAY_DRAFTS.labels(str(data.get("cycle") or "unknown")).inc()
        elif status == "returned":
            ACH_RETURNS.labels(str(data.get("return_code") or "unknown")).inc()
    return observe


def _method_updated(data: dict[str, Any]) -> None:
    if data.get("status") == "corrected":
        ACH_NOCS.labels(str(data.get("reason") or "").split(":", 1)[0] or "unknown").inc()


def _notification(outcome: str) -> Callable[[dict[str, Any]], None]:
    def observe(data: dict[str, Any]) -> None:
        NOTIFICATIONS.labels(str(data.get("source_event_type") or "unknown"),
                             str(data.get("channel") or "unknown"), outcome).inc()
    return observe


_OBSERVERS: dict[str, Callable[[dict[str, Any]], None]] = {
    payments.PAYMENT_SUBMITTED: _payment("submitted"),
    payments.PAYMENT_SETTLED: _payment("settled"),
    payments.PAYMENT_FAILED: _payment("failed"),
    payments.PAYMENT_RETURNED: _payment("returned"),
    payments.METHOD_UPDATED: _method_updated,
    payments.AUTOPAY_CREATED: lambda _: AUTOPAY_MANDATES.labels("created").inc(),
    payments.AUTOPAY_CANCELLED: lambda _: AUTOPAY_MANDATES.labels("cancelled").inc(),
    billing.INVOICE_ISSUED: lambda d: INVOICES.labels(str(d.get("kind") or "unknown")).inc(),
    billing.ACCOUNT_DELINQUENT: lambda d: DELINQUENCY.labels(str(d.get("stage") or "unknown")).inc(),
    billing.COVERAGE_TERMINATED: lambda d: TERMINATIONS.labels(str(d.get("reason") or "unknown")).inc(),
    notify.NOTIFICATION_SENT: _notification("sent"),
    notify.NOTIFICATION_FAILED: _notification("failed"),
}


def observe(rows: Any) -> None:
    """Count the published outbox rows (with `event_type` and `payload`) that matter."""
    for row in rows:
        observer = _OBSERVERS.get(row["event_type"])
        if observer is not None:
            observer(orjson.loads(row["payload"]).get("data") or {})
