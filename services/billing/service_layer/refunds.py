"""Refunds of credit driven by payments.v1: `refund.issued` takes the amount off the
credit, `refund.returned` gives it back; each once per refund, in the consumer's
transaction, with `balance.changed` so the member sees the new credit."""
from __future__ import annotations

import logging

import asyncpg

from services.billing.adapters import repository as repo
from services.billing.domain import refunds as rules
from services.billing.service_layer.accounts import balance_changed
from shared.calendar import Clock, business_today
from shared.contracts import payments as pay
from shared.contracts.envelope import Event
from shared.outbox import enqueue

log = logging.getLogger(__name__)


async def _book(conn: asyncpg.Connection, event: Event, decide, reason: str, clock: Clock) -> None:
    d = event.data
    ban = d.billing_account_number
    if await repo.account(conn, ban, lock=True) is None:
        raise LookupError(f"refund {d.refund_id} for unknown billing account {ban}")
    booking = decide(d.amount_cents, await repo.refund_kinds(conn, ban, d.refund_id))
    if booking.kind is None:
        log.info("refund event not booked: %s", booking.note,
                 extra={"billing_account_number": ban, "refund_id": d.refund_id})
        return
    today = business_today(clock())
    credit = await repo.credit_cents(conn, ban)
    if rules.credit_after(credit, booking) < 0:
        log.warning("a refund left more than the credit now held: the rest is owed",
                    extra={"billing_account_number": ban, "refund_id": d.refund_id})
    await repo.add_entry(conn, ban, booking.kind, booking.amount_cents, today, d.refund_id)
    await enqueue(conn, await balance_changed(conn, ban, reason, today), key=ban, cause=event)


async def on_refund_issued(conn: asyncpg.Connection, event: Event[pay.RefundIssuedData], *,
                           clock: Clock) -> None:
    await _book(conn, event, rules.on_issued, "refund_issued", clock)


async def on_refund_returned(conn: asyncpg.Connection, event: Event[pay.RefundReturnedData], *,
                             clock: Clock) -> None:
    await _book(conn, event, rules.on_returned, "refund_returned", clock)
