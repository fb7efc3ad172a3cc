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


# What one batch of rows adds to each counter and label set, applied once per batch: a
# relay publishing thousands of events a second counts them at the cost of a few
# increments, not of two labelled increments (each taking the counter's lock) per event.
Tally = dict[tuple[Counter, tuple[str, ...]], int]


def _add(tally: Tally, counter: Counter, labels: tuple[str, ...], amount: int = 1) -> None:
    key = (counter, labels)
    tally[key] = tally.get(key, 0) + amount


def _payment(status: str) -> Callable[[dict[str, Any], Tally], None]:
    def observe(data: dict[str, Any], tally: Tally) -> None:
        labels = (data.get("kind") or "unknown",
                  RAIL_OF_METHOD.get(str((data.get("method") or {}).get("type")), "ach"), status)
        _add(tally, PAYMENTS, labels)
        _add(tally, PAYMENTS_CENTS, labels, int(data.get("amount_cents") or 0))
        if status == "submitted" and data.get("channel") == "autopay":
            _add(tally, AUTOPAY_DRAFTS, (str(data.get("cycle") or "unknown"),))
        elif status == "returned":
            _add(tally, ACH_RETURNS, (str(data.get("return_code") or "unknown"),))
    return observe


def _method_updated(data: dict[str, Any], tally: Tally) -> None:
    if data.get("status") == "corrected":
        _add(tally, ACH_NOCS, (str(data.get("reason") or "").split(":", 1)[0] or "unknown",))


def _notification(outcome: str) -> Callable[[dict[str, Any], Tally], None]:
    def observe(data: dict[str, Any], tally: Tally) -> None:
        _add(tally, NOTIFICATIONS, (str(data.get("source_event_type") or "unknown"),
                                    str(data.get("channel") or "unknown"), outcome))
    return observe


def _by(counter: Counter, field: str | None = None,
        value: str = "") -> Callable[[dict[str, Any], Tally], None]:
    """An observer counting one per event, under the event's `field` (or a fixed `value`)."""
    def observe(data: dict[str, Any], tally: Tally) -> None:
        _add(tally, counter, (str(data.get(field) or "unknown") if field else value,))
    return observe


_OBSERVERS: dict[str, Callable[[dict[str, Any], Tally], None]] = {
    payments.PAYMENT_SUBMITTED: _payment("submitted"),
    payments.PAYMENT_SETTLED: _payment("settled"),
    payments.PAYMENT_FAILED: _payment("failed"),
    payments.PAYMENT_RETURNED: _payment("returned"),
    payments.METHOD_UPDATED: _method_updated,
    payments.AUTOPAY_CREATED: _by(AUTOPAY_MANDATES, value="created"),
    payments.AUTOPAY_CANCELLED: _by(AUTOPAY_MANDATES, value="cancelled"),
    billing.INVOICE_ISSUED: _by(INVOICES, "kind"),
    billing.ACCOUNT_DELINQUENT: _by(DELINQUENCY, "stage"),
    billing.COVERAGE_TERMINATED: _by(TERMINATIONS, "reason"),
    notify.NOTIFICATION_SENT: _notification("sent"),
    notify.NOTIFICATION_FAILED: _notification("failed"),
}


def observe(rows: Any) -> None:
    """Count the published outbox rows (with `event_type` and `payload`) that matter: the
    batch is tallied first, then each counter and label set it touched is increased once."""
    tally: Tally = {}
    for row in rows:
        observer = _OBSERVERS.get(row["event_type"])
        if observer is not None:
            observer(orjson.loads(row["payload"]).get("data") or {}, tally)
    for (counter, labels), amount in tally.items():
        counter.labels(*labels).inc(amount)
