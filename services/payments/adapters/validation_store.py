"""SQL of account validation: the validations, the debits held for them, their entries."""
from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import asyncpg
import orjson

from services.payments.adapters.repository import PAYMENT_COLUMNS

OPEN = ("pending", "sent")


async def insert(conn: asyncpg.Connection, *, method_id: uuid.UUID, ban: str, kind: str,
                 requested_on: date, contact: dict[str, Any]) -> asyncpg.Record:
    return await conn.fetchrow(
        """INSERT INTO account_validations (validation_id, method_id, billing_account_number, kind,
               status, requested_on, contact)
           VALUES (gen_random_uuid(), $1, $2, $3, 'pending', $4, $5::jsonb) RETURNING *""",
        method_id, ban, kind, requested_on, orjson.dumps(contact).decode())


async def latest_of_method(conn: asyncpg.Connection, method_id: uuid.UUID,
                           lock: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM account_validations WHERE method_id = $1 ORDER BY created_at DESC LIMIT 1"
        + (" FOR UPDATE" if lock else ""), method_id)


async def prenotes_due(conn: asyncpg.Connection, day: date) -> list[asyncpg.Record]:
    """Prenotes sent whose waiting period is over by `day` with no return or NOC."""
    return await conn.fetch(
        """UPDATE account_validations SET status = 'validated', updated_at = now()
           WHERE kind = 'prenote' AND status = 'sent' AND live_from <= $1 RETURNING *""", day)


async def held_debits(conn: asyncpg.Connection, day: date) -> list[asyncpg.Record]:
    """Pending bank debits submitted by `day` whose account's validation is still open, with
    the earliest due date of the coverage years they pay."""
    return await conn.fetch(
        """SELECT p.payment_id, v.kind, v.status,
                  (SELECT min((l->>'due_date')::date) FROM owed_accounts o,
                          jsonb_array_elements(o.lines) l
                    WHERE o.billing_account_number = p.billing_account_number
                      AND (l->>'balance_cents')::bigint > 0
                      AND (l->>'coverage_year')::int IN (
                          SELECT (a->>'coverage_year')::int FROM jsonb_array_elements(p.allocations) a)
                  ) AS due_date
           FROM payments p JOIN account_validations v ON v.method_id = p.method_id AND v.status IN ('pending', 'sent')
           WHERE p.status = 'pending' AND p.rail = 'ach' AND p.submitted_on <= $1 AND NOT p.with_validation""",
        day)


async def due_date_of(conn: asyncpg.Connection, payment_id: uuid.UUID) -> date | None:
    """The earliest due date of the coverage years a payment pays."""
    return await conn.fetchval(
        """SELECT min((l->>'due_date')::date) FROM payments p
             JOIN owed_accounts o USING (billing_account_number), jsonb_array_elements(o.lines) l
           WHERE p.payment_id = $1 AND (l->>'balance_cents')::bigint > 0
             AND (l->>'coverage_year')::int IN (
                 SELECT (a->>'coverage_year')::int FROM jsonb_array_elements(p.allocations) a)""",
        payment_id)


async def send_with_validation(conn: asyncpg.Connection, payment_ids: list[uuid.UUID]) -> None:
    await conn.execute("UPDATE payments SET with_validation = true, updated_at = now() "
                       "WHERE payment_id = ANY($1::uuid[])", payment_ids)


# What assign_to_file leaves out: a debit whose account's validation is still open, unless
# it goes with the validation entries.
HOLD_CLAUSE = """AND (with_validation OR NOT EXISTS (
    SELECT 1 FROM account_validations v WHERE v.method_id = payments.method_id
      AND v.status IN ('pending', 'sent')))"""


async def pending_entries(conn: asyncpg.Connection, day: date,
                          with_debits_of: int | None = None) -> list[asyncpg.Record]:
    """Validations waiting for a file, with the method's details to write; with
    `with_debits_of` (a same-day file), only those of the accounts debited in that file.
    A standard file leaves out those of accounts whose same-day debit is still to go:
    they go with it."""
    return await conn.fetch(
        """SELECT v.validation_id, v.kind, v.billing_account_number, x.method_id, x.type,
                  x.holder_name, x.routing_number, x.account_ciphertext, x.key_id
           FROM account_validations v JOIN methods x USING (method_id)
           WHERE v.status = 'pending' AND v.requested_on <= $1 AND x.status = 'active'
             AND CASE WHEN $2::bigint IS NULL THEN NOT EXISTS (
                     SELECT 1 FROM payments p WHERE p.method_id = v.method_id
                       AND p.status = 'pending' AND p.same_day_window IS NOT NULL
                       AND p.expected_withdrawal_date > $1)
                 ELSE v.method_id IN (SELECT p.method_id FROM payments p WHERE p.ach_file_id = $2)
                 END
           ORDER BY v.created_at FOR UPDATE OF v""", day, with_debits_of)


async def next_traces(conn: asyncpg.Connection, odfi8: str, n: int) -> list[str]:
    rows = await conn.fetch("SELECT $1 || lpad(nextval('ach_trace_seq')::text, 7, '0') "
                            "FROM generate_series(1, $2)", odfi8, n)
    return [r[0] for r in rows]


async def mark_sent(conn: asyncpg.Connection, validation_id: uuid.UUID, file_id: int,
                    effective: date, live_from: date | None, traces: list[str],
                    micro_cents: list[int] | None) -> asyncpg.Record:
    return await conn.fetchrow(
        """UPDATE account_validations SET status = 'sent', ach_file_id = $2, effective_date = $3,
               live_from = $4, trace_numbers = $5, micro_cents = $6, updated_at = now()
           WHERE validation_id = $1 RETURNING *""",
        validation_id, file_id, effective, live_from, traces, micro_cents)


async def by_trace(conn: asyncpg.Connection, trace: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT * FROM account_validations WHERE trace_numbers @> ARRAY[$1]::text[]
           ORDER BY created_at DESC LIMIT 1 FOR UPDATE""", trace)


async def set_status(conn: asyncpg.Connection, validation_id: uuid.UUID, status: str, *,
                     reason: str | None = None, return_code: str | None = None,
                     tries: int | None = None) -> asyncpg.Record:
    return await conn.fetchrow(
        """UPDATE account_validations SET status = $2, failure_reason = coalesce($3, failure_reason),
               return_code = coalesce($4, return_code), tries = coalesce($5, tries), updated_at = now()
           WHERE validation_id = $1 RETURNING *""",
        validation_id, status, reason, return_code, tries)


async def set_tries(conn: asyncpg.Connection, validation_id: uuid.UUID, tries: int) -> None:
    await conn.execute("UPDATE account_validations SET tries = $2, updated_at = now() "
                       "WHERE validation_id = $1", validation_id, tries)


async def fail_held(conn: asyncpg.Connection, method_id: uuid.UUID, code: str) -> list[asyncpg.Record]:
    """The debits still waiting for a validation that failed: failed too."""
    return await conn.fetch(
        f"""UPDATE payments SET status = 'failed', failure_code = $2, updated_at = now()
            WHERE method_id = $1 AND status = 'pending' AND rail = 'ach'
            RETURNING {PAYMENT_COLUMNS}""", method_id, code)
