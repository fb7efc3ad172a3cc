"""payments.v1 for billing a consumed batch at a time: the batch's settlements and
submissions applied together with set-based SQL, every other event by its own handler.

The consumer hands over a batch's fresh events in one transaction (shared/consumer.py).
Each payment event changes its own account only, so what must hold is each account's
order. An account with exactly one event in the batch, a `payment.settled` or a
`payment.submitted` (a payment id no other event of the batch names), joins the others in
a few statements for the whole batch (adapters/payment_batch_sql.py) when its state is the
usual one: for a settlement, the payment neither settled nor returned before and no grace
period or termination for the payment to resolve. Every other event (an account's second
event in the batch, returns, failures, refunds, a settlement that meets a delinquency or
a payment already settled or returned) goes to the handler it has always had
(`accounts.on_payment_settled` ...), one by one in the batch's order. Both ways book the
same rows and write the same events in the same order per account; the batched way costs
about ten round trips for the batch instead of a dozen per settlement.

A settlement for an unknown account fails the batch with the error the one-by-one handler
raises: the consumer then applies the batch in halves until that event stands alone and
dead-letters it (after its retries), while the others are applied.
"""
from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any

import asyncpg

from services.billing.adapters import payment_batch_sql as sql
from services.billing.adapters import repository as repo
from services.billing.service_layer import accounts
from shared import tracing
from shared.calendar import Clock, business_today
from shared.consumer import Handler
from shared.contracts import billing as ev
from shared.contracts import payments as pay
from shared.contracts.envelope import Envelope, Event
from shared.logging import log_context
from shared.outbox import enqueue, enqueue_many

BATCHED = (pay.PAYMENT_SETTLED, pay.PAYMENT_SUBMITTED)


async def apply_payment_events(conn: asyncpg.Connection, events: list[Event[Any]], *,
                               handlers: Mapping[str, Handler], clock: Clock) -> None:
    """The consumer's batch handler: apply `events` (fresh, in offset order) in the
    caller's transaction; `handlers` are the one-by-one handlers by event type."""
    today = business_today(clock())
    batched = _batchable(events)
    alone = await _settle(conn, [e for e in batched if e.event_type == pay.PAYMENT_SETTLED], today)
    await _record_submitted(conn, [e for e in batched if e.event_type == pay.PAYMENT_SUBMITTED],
                            today)
    skip = {e.event_id for e in batched} - {e.event_id for e in alone}
    for event in events:
        if event.event_id not in skip:
            with _continuing(event):
                await handlers[event.event_type](conn, event)


def _batchable(events: list[Event[Any]]) -> list[Event[Any]]:
    """The settlements and submissions that are their account's only event in the batch
    and the only event naming their payment."""
    per_account = Counter(e.data.billing_account_number for e in events)
    per_payment = Counter(getattr(e.data, "payment_id", None) for e in events)
    return [e for e in events if e.event_type in BATCHED
            and per_account[e.data.billing_account_number] == 1
            and per_payment[e.data.payment_id] == 1]


async def _record_submitted(conn: asyncpg.Connection, events: list[Event[pay.PaymentSubmittedData]],
                            today: date) -> None:
    """`accounts.on_payment_submitted` for every event, in one statement."""
    await sql.upsert_payments(
        conn, [(e.data.payment_id, e.data.billing_account_number, accounts.amount_of(e.data),
                [a.to_data() for a in e.data.allocations]) for e in events],
        submitted=[True] * len(events), submitted_on=[today] * len(events))


async def _settle(conn: asyncpg.Connection, events: list[Event[pay.PaymentSettledData]],
                  today: date) -> list[Event[pay.PaymentSettledData]]:
    """`accounts.on_payment_settled` for the settlements whose account and payment are in
    the usual state, together; returns the others, for their handler."""
    if not events:
        return []
    found = await sql.lock_accounts(conn, [e.data.billing_account_number for e in events])
    for e in events:
        if e.data.billing_account_number not in found:
            raise LookupError(f"payment {e.data.payment_id} for unknown billing account "
                              f"{e.data.billing_account_number}")
    done = await sql.payments_done(conn, [e.data.payment_id for e in events])
    usual = [e for e in events
             if not found[e.data.billing_account_number]["delinquent"] and e.data.payment_id not in done]
    if usual:
        await _credit(conn, usual, {ban: r["plan_type"] for ban, r in found.items()}, today)
    credited = {e.event_id for e in usual}
    return [e for e in events if e.event_id not in credited]


async def _credit(conn: asyncpg.Connection, events: list[Event[pay.PaymentSettledData]],
                  plan_types: dict[str, str], today: date) -> None:
    """Credit each payment over its account's open invoices (as `on_payment_settled`
    does), then write each account's `payment.applied`, any `coverage.effectuated` and its
    `balance.changed`."""
    bans = [e.data.billing_account_number for e in events]
    invoices = await sql.open_invoices(conn, bans)
    await sql.upsert_payments(
        conn, [(e.data.payment_id, e.data.billing_account_number, accounts.amount_of(e.data),
                [a.to_data() for a in e.data.allocations]) for e in events],
        settled=[True] * len(events), credited=[True] * len(events),
        settled_on=[date.fromisoformat(e.data.settled_on) for e in events])
    entries, paid, applied = [], [], []
    for e in events:
        ban, pid = e.data.billing_account_number, e.data.payment_id
        apps, credit = accounts.allocate_payment(e.data, invoices.get(ban, []))
        entries += [sql.entry(ban, "payment", -a.amount_cents, today, pid, year=a.coverage_year,
                              month=a.coverage_month, invoice_id=a.invoice_id) for a in apps]
        if credit:
            entries.append(sql.entry(ban, "credit", -credit, today, pid))
        paid += [(a.invoice_id, a.amount_cents) for a in apps]
        applied.append((apps, credit))
    await sql.add_entries(conn, entries)
    await sql.add_paid(conn, paid)
    effectuated: dict[str, list[asyncpg.Record]] = {}
    for r in await repo.activate_binder_lines(conn, bans):
        effectuated.setdefault(r["billing_account_number"], []).append(r)
    balances = await sql.balances(conn, bans)
    snapshots = await repo.snapshots(conn, bans, today)
    caused: list[tuple[Event[Any], list[ev.BillingPayload]]] = []
    for e, (apps, credit) in zip(events, applied):
        ban = e.data.billing_account_number
        total, held = balances[ban]
        caused.append((e, [
            accounts.payment_applied(e.data, apps, credit, total),
            *accounts.binders_effectuated(ban, effectuated.get(ban, [])),
            accounts.balance_event(ban, plan_types[ban], snapshots.get(ban, {"lines": []}), held,
                                   "payment_applied")]))
    await _enqueue(conn, caused)


async def _enqueue(conn: asyncpg.Connection,
                   caused: list[tuple[Event[Any], list[ev.BillingPayload]]]) -> None:
    """Each cause's events under its account, in one statement. While tracing is on, one
    per cause instead, so each row continues the trace of the event that caused it (as the
    one-by-one handler's rows do)."""
    if tracing.enabled():
        for cause, payloads in caused:
            with _continuing(cause):
                await enqueue(conn, *payloads, key=cause.data.billing_account_number, cause=cause)
        return
    await enqueue_many(conn, [
        Envelope.of(p, key=cause.data.billing_account_number, correlation_id=cause.correlation_id,
                    causation_id=str(cause.event_id))
        for cause, payloads in caused for p in payloads])


@contextlib.contextmanager
def _continuing(event: Event[Any]) -> Iterator[None]:
    """Work on one event of the batch: logged with its ids, and (while tracing is on) in a
    span of its own trace, a child of the consumer's receipt of it."""
    with log_context(event_id=str(event.event_id), correlation_id=event.correlation_id,
                     key=event.key), \
            tracing.span("billing", f"apply {event.event_type}",
                         parent=tracing.parent_of(event.event_id)):
        yield
