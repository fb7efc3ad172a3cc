"""The consumer's use case: keep the projections current and record the notifications each
event asks for, all in the consumer's batch transaction (so an event's notifications exist
if and only if its event id is recorded as processed)."""
from __future__ import annotations

import logging
from typing import Any

import asyncpg

from services.notify.adapters import repository as repo
from services.notify.domain.format import normalize_language
from services.notify.domain.messages import intent_for
from services.notify.service_layer.compose import Composer
from shared.contracts.envelope import Envelope

log = logging.getLogger(__name__)


async def apply_projection(conn: asyncpg.Connection, event: Envelope) -> None:
    """Update what notify knows about households, accounts, members, balances, autopay."""
    t, d = event.event_type, event.data
    if t in ("enrollment.created", "enrollment.updated"):
        contact: dict[str, Any] = d.get("contact") or {}
        subscriber = d.get("subscriber") or {}  # only first_name is read; never the SSN
        await repo.upsert_household(conn, d["household_id"], subscriber.get("first_name"),
                                    contact.get("email"), contact.get("phone"),
                                    normalize_language(contact.get("language")))
    elif t == "account.opened":
        await repo.upsert_account(conn, d["billing_account_number"], d["household_id"],
                                  d.get("plan_type"), bool(d.get("aptc")))
    elif t == "member.registered":
        await repo.upsert_member(conn, d["member_id"], d.get("billing_account_numbers") or [],
                                 first_name=d.get("first_name"), email=d.get("email"),
                                 phone=d.get("phone"),
                                 language=normalize_language(d.get("language")))
    elif t == "member.contact_changed":
        await repo.upsert_member(conn, d["member_id"], d.get("billing_account_numbers") or [],
                                 email=d.get("email"), phone=d.get("phone"),
                                 language=normalize_language(d.get("language")) if d.get("language") else None,
                                 email_enabled=d.get("email_enabled"),
                                 sms_enabled=d.get("sms_enabled"), phone_is_current=True)
    elif t == "balance.changed":
        await repo.set_balance(conn, d["billing_account_number"], int(d["total_balance_cents"]),
                               d.get("lines") or [], event.occurred_at)
    elif t == "autopay.created":
        await repo.set_autopay(conn, d["billing_account_number"], str(d["mandate_id"]), True,
                               event.occurred_at)
    elif t == "autopay.cancelled":
        await repo.set_autopay(conn, d["billing_account_number"], str(d["mandate_id"]), False,
                               event.occurred_at)


PROJECTION_EVENT_TYPES = (
    "enrollment.created", "enrollment.updated", "account.opened", "member.registered",
    "member.contact_changed", "balance.changed", "autopay.created", "autopay.cancelled",
)


class Intake:
    """The notify consumer's batch handler."""

    def __init__(self, composer: Composer) -> None:
        self.composer = composer

    async def handle_batch(self, conn: asyncpg.Connection, events: list[Envelope]) -> None:
        # Projections first, in order, so a message in the same batch sees them.
        for event in events:
            if event.event_type in PROJECTION_EVENT_TYPES:
                await apply_projection(conn, event)
        wanted = [(e, i) for e in events if (i := intent_for(e.event_type, e.data)) is not None]
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
