"""Intake: members, enrollments and billing account numbers from enrollment.v1 and
billing.v1, read as the contracts' payloads (the consumer validated them). Each handler runs inside the consumer's batch transaction, after its event id
was recorded, so a redelivered event has no second effect; the upserts are also safe to
repeat, and an event older than what is on file changes nothing."""
from __future__ import annotations

import logging
import uuid

import asyncpg

from services.identity.adapters import repository as repo
from services.identity.domain.values import normalize_name
from services.identity.service_layer.deps import Deps
from shared.contracts.billing import AccountOpenedData
from shared.contracts.enrollment import EnrollmentData, EnrollmentTerminatedData
from shared.contracts.envelope import Event

log = logging.getLogger(__name__)


async def enrollment_changed(conn: asyncpg.Connection, env: Event[EnrollmentData], deps: Deps) -> None:
    """`enrollment.created` / `enrollment.updated`: the member and the enrollment as sent."""
    data = env.data
    sub, contact = data.subscriber, data.contact
    first, last = sub.first_name.strip(), sub.last_name.strip()
    await repo.upsert_member(
        conn, member_id=uuid.uuid4(), household_id=data.household_id,
        first_name=first, last_name=last, first_name_norm=normalize_name(first),
        last_name_norm=normalize_name(last), date_of_birth=sub.date_of_birth,
        ssn=deps.vault.seal(sub.ssn) if sub.ssn else None, email=contact.email,
        phone=contact.phone, language=contact.language, event_at=env.occurred_at)
    await repo.upsert_enrollment(
        conn, enrollment_id=data.enrollment_id, household_id=data.household_id,
        plan_type=data.plan_type, coverage_year=data.coverage_year,
        coverage_start=data.coverage_start, plan_name=data.plan_name, carrier=data.carrier,
        shopped_at=data.shopped_at, event_at=env.occurred_at)
    detail = data.model_dump(mode="json", exclude={"subscriber": {"ssn"}})
    await repo.record_history(conn, env.event_id, data.enrollment_id, env.event_type,
                              env.occurred_at, detail)
    log.info("enrollment applied", extra={"enrollment_id": data.enrollment_id,
                                          "household_id": data.household_id,
                                          "event_type": env.event_type})


async def enrollment_terminated(conn: asyncpg.Connection, env: Event[EnrollmentTerminatedData],
                                deps: Deps) -> None:
    """`enrollment.terminated`: the enrollment stays, marked terminated, with its history."""
    data = env.data
    await repo.terminate_enrollment(conn, data.enrollment_id, data.reason, data.effective_date)
    await repo.record_history(conn, env.event_id, data.enrollment_id, env.event_type,
                              env.occurred_at, data.model_dump(mode="json"))
    log.info("enrollment terminated", extra={"enrollment_id": data.enrollment_id})


async def account_opened(conn: asyncpg.Connection, env: Event[AccountOpenedData], deps: Deps) -> None:
    """`account.opened`: the billing account number of a household's plan type."""
    d = env.data
    ban, household, plan_type = d.billing_account_number, d.household_id, d.plan_type
    await repo.upsert_billing_account(conn, ban, household, plan_type)
    log.info("billing account known", extra={"billing_account_number": ban,
                                             "household_id": household})
