"""The consumer's use case: keep the projections current and record the notifications each
event asks for, all in the consumer's batch transaction (so an event's notifications exist
if and only if its event id is recorded as processed)."""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import asyncpg

from services.notify.adapters import repository as repo
from services.notify.domain.format import normalize_language
from services.notify.domain.messages import intents_for
from services.notify.service_layer.compose import Composer
from shared.consumer import Handler
from shared.contracts import billing as bl
from shared.contracts import enrollment as en
from shared.contracts import identity as idn
from shared.contracts import payments as pay
from shared.contracts.envelope import Event

log = logging.getLogger(__name__)


async def _household(conn: asyncpg.Connection, event: Event[en.EnrollmentData]) -> None:
    d = event.data  # only the subscriber's first name is read; never the SSN
    await repo.upsert_household(conn, d.household_id, d.subscriber.first_name, d.contact.email,
                                d.contact.phone, normalize_language(d.contact.language))


async def _account(conn: asyncpg.Connection, event: Event[bl.AccountOpenedData]) -> None:
    d = event.data
    await repo.upsert_account(conn, d.billing_account_number, d.household_id, d.plan_type, d.aptc)


async def _member_registered(conn: asyncpg.Connection, event: Event[idn.MemberRegisteredData]) -> None:
    d = event.data
    await repo.upsert_member(conn, d.member_id, d.billing_account_numbers, first_name=d.first_name,
                             email=d.email, phone=d.phone, language=normalize_language(d.language))


async def _contact_changed(conn: asyncpg.Connection,
                           event: Event[idn.MemberContactChangedData]) -> None:
    d = event.data
    await repo.upsert_member(conn, d.member_id, d.billing_account_numbers, email=d.email,
                             phone=d.phone,
                             language=normalize_language(d.language) if d.language else None,
                             email_enabled=d.email_enabled, sms_enabled=d.sms_enabled,
                             phone_is_current=True)


async def _balance(conn: asyncpg.Connection, event: Event[bl.BalanceChangedData]) -> None:
    await repo.set_balances(conn, [_balance_row(event)])


def _balance_row(event: Event[bl.BalanceChangedData]) -> tuple[str, int, list, datetime]:
    d = event.data
    return (d.billing_account_number, d.total_balance_cents,
            [line.to_data() for line in d.lines], event.occurred_at)


async def _autopay_created(conn: asyncpg.Connection, event: Event[pay.AutopayCreatedData]) -> None:
    d = event.data
    await repo.set_autopay(conn, d.billing_account_number, d.mandate_id, True, event.occurred_at)


async def _autopay_cancelled(conn: asyncpg.Connection,
                             event: Event[pay.AutopayCancelledData]) -> None:
    d = event.data
    await repo.set_autopay(conn, d.billing_account_number, d.mandate_id, False, event.occurred_at)


# What notify knows about households, accounts, members, balances and autopay, kept current
# from these events (keyed by the contracts' event types).
PROJECTIONS: dict[str, Handler] = {
    en.ENROLLMENT_CREATED: _household, en.ENROLLMENT_UPDATED: _household,
    bl.ACCOUNT_OPENED: _account, idn.MEMBER_REGISTERED: _member_registered,
    idn.MEMBER_CONTACT_CHANGED: _contact_changed, bl.BALANCE_CHANGED: _balance,
    pay.AUTOPAY_CREATED: _autopay_created, pay.AUTOPAY_CANCELLED: _autopay_cancelled,
}
PROJECTION_EVENT_TYPES = tuple(PROJECTIONS)


async def apply_projection(conn: asyncpg.Connection, event: Event[Any]) -> None:
    """Update what notify knows about households, accounts, members, balances, autopay."""
    handler = PROJECTIONS.get(event.event_type)
    if handler is not None:
        await handler(conn, event)


class Intake:
    """The notify consumer's batch handler."""

    def __init__(self, composer: Composer) -> None:
        self.composer = composer

    async def handle_batch(self, conn: asyncpg.Connection, events: list[Event[Any]]) -> None:
        # Projections first, in order, so a message in the same batch sees them; balances
        # (which no message reads, and which no other projection touches) in one statement.
        balances = []
        for event in events:
            if event.event_type == bl.BALANCE_CHANGED:
                balances.append(_balance_row(event))
            elif event.event_type in PROJECTION_EVENT_TYPES:
                await apply_projection(conn, event)
        await repo.set_balances(conn, balances)
        wanted = [(e, i) for e in events for i in intents_for(e.data)]
        if not wanted:
            return
        accounts = await repo.account_profiles(
            conn, [i.billing_account_number for _, i in wanted if i.billing_account_number])
        members = await repo.member_profiles(conn, [i.member_id for _, i in wanted if i.member_id])
        rows: list[tuple] = []
        for event, intent in wanted:
            profile = (members.get(intent.member_id) if intent.member_id else None) \
                or accounts.get(intent.billing_account_number or "")
            rows.extend(self.composer.rows(
                source_event_id=event.event_id, source_event_type=event.event_type,
                correlation_id=event.correlation_id, intent=intent, profile=profile))
        await repo.insert_notifications(conn, rows)
