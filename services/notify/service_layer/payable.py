"""A message scheduled for later: "you can pay for your plan now", asked for by a person
whose plan was shopped less than 4 hours ago (identity's 4-hour rule; the gateway passes
on the time it gave). The notification is recorded at once with its first attempt at that
time, so the sender delivers it then; asking again for the same address and time records
nothing new, so it goes out once."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import asyncpg

from services.notify.adapters import repository as repo
from services.notify.domain.messages import payable_intent
from services.notify.domain.recipients import Profile
from services.notify.service_layer.compose import Composer
from shared.errors import DomainError

PAYABLE_NAMESPACE = uuid.UUID("5d1f0b7a-92c4-4e3a-b7f1-6a0c2e9d4b18")
SOURCE = "plan_payable"
# The 4-hour rule never puts the time further out than this; anything later is refused, so
# this cannot be used to schedule messages to anyone at any time.
HORIZON = timedelta(hours=4, minutes=5)


class ReminderRefused(DomainError):
    """The request cannot be scheduled (the time is not one the 4-hour rule gives)."""

    code = "reminder_refused"


def source_id(channel: str, recipient: str, payable_at: datetime) -> uuid.UUID:
    return uuid.uuid5(PAYABLE_NAMESPACE, f"{SOURCE}:{channel}:{recipient}:{payable_at.isoformat()}")


async def schedule_payable_reminder(pool: asyncpg.Pool, composer: Composer, *, channel: str,
                                    recipient: str, language: str, payable_at: datetime,
                                    now: datetime | None = None) -> dict:
    """Record the message to go out at `payable_at`; returns what was scheduled."""
    assert channel in ("email", "sms")
    now = now or datetime.now(timezone.utc)
    if payable_at.tzinfo is None:
        raise ReminderRefused("payable_at needs its time zone")
    if payable_at > now + HORIZON:
        raise ReminderRefused("payable_at is further out than the 4-hour rule allows")
    send_at = max(payable_at, now)
    profile = Profile(email_enabled=channel == "email", sms_enabled=channel == "sms")
    sid = source_id(channel, recipient, payable_at.astimezone(timezone.utc))
    rows = composer.rows(source_event_id=sid, source_event_type=SOURCE, correlation_id=None,
                         intent=payable_intent(channel, recipient, language, payable_at.isoformat()),
                         profile=profile)
    if not rows:
        raise ReminderRefused("no way to reach that address")
    async with pool.acquire() as conn, conn.transaction():
        created = await repo.insert_notifications(conn, rows)
        if created:
            await repo.hold_until(conn, sid, send_at)
    return {"status": "scheduled", "channel": channel, "send_at": send_at.isoformat(),
            "recipient_masked": rows[0][11], "already_scheduled": not created}
