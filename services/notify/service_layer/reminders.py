"""The due-date reminder job: N days before a due date, remind every account with a balance
due then and no active autopay. Running it twice for a date sends nothing new: each
reminder's source id is derived from (account, due date)."""
from __future__ import annotations

import logging
import uuid
from datetime import date, timedelta

import asyncpg

from services.notify.adapters import repository as repo
from services.notify.domain.messages import reminder_intent
from services.notify.service_layer.compose import Composer

log = logging.getLogger(__name__)
REMINDER_NAMESPACE = uuid.UUID("0c6a1e7e-3f55-4d8b-8b1a-5a2f9d4e6c31")
JOB = "reminders"


def reminder_source_id(ban: str, due: date) -> uuid.UUID:
    return uuid.uuid5(REMINDER_NAMESPACE, f"due_reminder:{ban}:{due.isoformat()}")


async def run_reminders(pool: asyncpg.Pool, composer: Composer, business_date: date,
                        days_before: int) -> dict:
    """Record the reminders for `business_date`; returns counts for the operator."""
    due = business_date + timedelta(days=days_before)
    async with pool.acquire() as conn, conn.transaction():
        candidates = await repo.reminder_candidates(conn, due)
        profiles = await repo.account_profiles(
            conn, [c["billing_account_number"] for c in candidates])
        rows: list[tuple] = []
        for c in candidates:
            ban = c["billing_account_number"]
            intent = reminder_intent(ban, due.isoformat(), int(c["total_balance_cents"]))
            rows.extend(composer.rows(
                source_event_id=reminder_source_id(ban, due), source_event_type="due_reminder",
                correlation_id=None, intent=intent, profile=profiles.get(ban)))
        created = await repo.insert_notifications(conn, rows)
        await repo.record_job_run(conn, JOB, business_date,
                                  {"due_date": due.isoformat(), "accounts": len(candidates),
                                   "created": created})
    result = {"business_date": business_date.isoformat(), "due_date": due.isoformat(),
              "accounts_due": len(candidates), "notifications_created": created,
              "already_recorded": len(rows) - created}
    log.info("reminders recorded", extra=result)
    return result
