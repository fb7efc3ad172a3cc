"""SQL for methods, payments, mandates, idempotency keys and the owed projection."""
from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import asyncpg

PAYMENT_COLUMNS = """payment_id, confirmation_number, billing_account_number, plan_type, kind,
    channel, rail, amount_cents, allocations, method_id, method_type, method_last4, method_brand,
    status, submitted_on, expected_withdrawal_date, mandate_id, cycle, attempt, retry_of, contact,
    member_id, trace_number, effective_date, settled_on, returned_on, return_code, failure_code,
    payer_kind, payer_name, payer_email, same_day_window, created_at"""


# ------------------------------------------------------------------ projection of billing
async def get_owed(conn: asyncpg.Connection, ban: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM owed_accounts WHERE billing_account_number = $1", ban)


IN_FLIGHT = "('pending', 'originated')"


async def in_flight_cents(conn: asyncpg.Connection, ban: str) -> int:
    """Money already on its way for this account (submitted, not yet settled or returned):
    billing's balance does not show it yet, so "total" must not charge it a second time."""
    return await conn.fetchval(
        f"""SELECT coalesce(sum(amount_cents), 0)::bigint FROM payments
            WHERE billing_account_number = $1 AND status IN {IN_FLIGHT}""", ban)


IN_FLIGHT_FIELDS = ("payment_id", "amount_cents", "expected_withdrawal_date", "attempt", "mandate_id")


async def standing(conn: asyncpg.Connection, ban: str) -> tuple[asyncpg.Record | None, list[dict]]:
    """In one round trip: the account's active mandate with its method (None when it has
    none) and the payments `in_flight_cents` adds up, soonest withdrawal first (each as
    IN_FLIGHT_FIELDS: a mandate's drafts on their way are those with its mandate_id)."""
    row = await conn.fetchrow(
        f"""SELECT m.*, x.type, x.last4, x.brand,
                   ARRAY(SELECT ROW({', '.join(IN_FLIGHT_FIELDS)}) FROM payments
                         WHERE billing_account_number = $1 AND status IN {IN_FLIGHT}
                         ORDER BY expected_withdrawal_date, created_at, payment_id) AS in_flight
            FROM (VALUES (1)) one (unit)
            LEFT JOIN (mandates m JOIN methods x USING (method_id))
              ON m.billing_account_number = $1 AND m.status = 'active'""", ban)
    in_flight = [dict(zip(IN_FLIGHT_FIELDS, p)) for p in row["in_flight"]]
    return (row if row["mandate_id"] is not None else None), in_flight


async def account_opened(conn: asyncpg.Connection, ban: str, plan_type: str,
                         household_id: str | None, years: list[int]) -> None:
    """Opens the account (or adds a renewal's coverage year as a zero line)."""
    lines = [{"coverage_year": y, "balance_cents": 0, "current_premium_cents": 0, "due_date": None}
             for y in years]
    await conn.execute(
        """INSERT INTO owed_accounts (billing_account_number, plan_type, household_id, lines)
           VALUES ($1, $2, $3, $4::jsonb)
           ON CONFLICT (billing_account_number) DO UPDATE SET
             plan_type = EXCLUDED.plan_type, household_id = EXCLUDED.household_id,
             lines = owed_accounts.lines || (
               SELECT coalesce(jsonb_agg(n), '[]'::jsonb) FROM jsonb_array_elements(EXCLUDED.lines) n
               WHERE NOT EXISTS (SELECT 1 FROM jsonb_array_elements(owed_accounts.lines) o
                                 WHERE o->'coverage_year' = n->'coverage_year')),
             updated_at = now()""", ban, plan_type, household_id, lines)


async def balance_changed(conn: asyncpg.Connection, ban: str, plan_type: str, total_cents: int,
                          lines: list[dict[str, Any]], as_of: datetime) -> None:
    """Applies billing's latest balance; an older event delivered late changes nothing."""
    await conn.execute(
        """INSERT INTO owed_accounts (billing_account_number, plan_type, total_balance_cents,
                                      lines, balance_as_of)
           VALUES ($1, $2, $3, $4::jsonb, $5)
           ON CONFLICT (billing_account_number) DO UPDATE SET
             total_balance_cents = EXCLUDED.total_balance_cents, lines = EXCLUDED.lines,
             balance_as_of = EXCLUDED.balance_as_of, updated_at = now()
           WHERE owed_accounts.balance_as_of IS NULL OR owed_accounts.balance_as_of <= EXCLUDED.balance_as_of""",
        ban, plan_type, total_cents, lines, as_of)


# ------------------------------------------------------------------ idempotency
async def claim_key(conn: asyncpg.Connection, key: str, scope: str, request_hash: str) -> bool:
    """True if this transaction now owns the key. A concurrent owner makes this wait until it
    commits (then False) or rolls back (then True): the unique key serializes duplicates."""
    row = await conn.fetchval(
        """INSERT INTO idempotency_keys (idempotency_key, scope, request_hash) VALUES ($1, $2, $3)
           ON CONFLICT (idempotency_key) DO NOTHING RETURNING 1""", key, scope, request_hash)
    return row is not None


async def get_key(conn: asyncpg.Connection, key: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM idempotency_keys WHERE idempotency_key = $1", key)


# idempotency_keys.status_code keeps what the first answer was as the HTTP status it was
# given: 201 for a payment or set-up made, 402 for a declined card.
_MADE, _DECLINED = 201, 402


async def store_answer(conn: asyncpg.Connection, key: str, body: dict, *,
                       declined: bool = False) -> None:
    await conn.execute("UPDATE idempotency_keys SET status_code = $2, response = $3::jsonb "
                       "WHERE idempotency_key = $1", key, _DECLINED if declined else _MADE, body)


def answer_declined(row: asyncpg.Record) -> bool:
    """Whether the answer kept with this key (get_key) is a declined card's."""
    return row["status_code"] == _DECLINED


# ------------------------------------------------------------------ methods
async def method_by_fingerprint(conn: asyncpg.Connection, ban: str, fp: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM methods WHERE billing_account_number = $1 "
                               "AND fingerprint = $2", ban, fp)


async def insert_method(conn: asyncpg.Connection, **f: Any) -> asyncpg.Record:
    cols = list(f)
    sql = (f"INSERT INTO methods ({', '.join(cols)}) VALUES "
           f"({', '.join(f'${i + 1}' for i in range(len(cols)))}) RETURNING *")
    return await conn.fetchrow(sql, *f.values())


async def get_method(conn: asyncpg.Connection, method_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM methods WHERE method_id = $1", method_id)


async def method(conn: asyncpg.Connection, method_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM methods WHERE method_id = $1", method_id)


async def lock_account_method(conn: asyncpg.Connection, ban: str,
                              method_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM methods WHERE method_id = $1 "
                               "AND billing_account_number = $2 FOR UPDATE", method_id, ban)


async def list_methods(conn: asyncpg.Connection, ban: str) -> list[asyncpg.Record]:
    """The account's saved methods, removed ones left out; `autopay`: the active recurring
    payment draws from it."""
    return await conn.fetch(
        """SELECT x.method_id, x.type, x.last4, x.brand, x.status, m.mandate_id IS NOT NULL AS autopay,
                  v.kind AS validation_kind, v.status AS validation_status
             FROM methods x LEFT JOIN mandates m ON m.method_id = x.method_id AND m.status = 'active'
             LEFT JOIN LATERAL (SELECT kind, status FROM account_validations a
                                WHERE a.method_id = x.method_id ORDER BY created_at DESC LIMIT 1) v ON true
            WHERE x.billing_account_number = $1 AND x.removed_at IS NULL
            ORDER BY x.created_at DESC""", ban)


async def set_method_removed(conn: asyncpg.Connection, method_id: uuid.UUID,
                             removed: bool) -> asyncpg.Record:
    return await conn.fetchrow(
        "UPDATE methods SET removed_at = CASE WHEN $2 THEN now() END, updated_at = now() "
        "WHERE method_id = $1 RETURNING *", method_id, removed)


async def set_method_status(conn: asyncpg.Connection, method_id: uuid.UUID, status: str,
                            reason: str) -> asyncpg.Record:
    return await conn.fetchrow(
        "UPDATE methods SET status = $2, status_reason = $3, updated_at = now() "
        "WHERE method_id = $1 RETURNING *", method_id, status, reason)


async def correct_method(conn: asyncpg.Connection, method_id: uuid.UUID, *, routing: str | None,
                         ciphertext: bytes | None, key_id: str | None, last4: str | None,
                         account_type: str | None) -> asyncpg.Record:
    return await conn.fetchrow(
        """UPDATE methods SET routing_number = coalesce($2, routing_number),
             account_ciphertext = coalesce($3, account_ciphertext), key_id = coalesce($4, key_id),
             last4 = coalesce($5, last4), type = coalesce($6, type), updated_at = now()
           WHERE method_id = $1 RETURNING *""",
        method_id, routing, ciphertext, key_id, last4, account_type)


# ------------------------------------------------------------------ payments
async def insert_payment(conn: asyncpg.Connection, **f: Any) -> asyncpg.Record:
    cols = list(f)
    sql = (f"INSERT INTO payments ({', '.join(cols)}) VALUES "
           f"({', '.join(f'${i + 1}' for i in range(len(cols)))}) RETURNING {PAYMENT_COLUMNS}")
    return await conn.fetchrow(sql, *f.values())


async def get_payment(conn: asyncpg.Connection, payment_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {PAYMENT_COLUMNS} FROM payments WHERE payment_id = $1",
                               payment_id)


async def account_payments(conn: asyncpg.Connection, ban: str, limit: int = 100) -> list[asyncpg.Record]:
    return await conn.fetch(f"SELECT {PAYMENT_COLUMNS} FROM payments WHERE billing_account_number = $1 "
                            "ORDER BY created_at DESC, payment_id LIMIT $2", ban, limit)


async def set_payment(conn: asyncpg.Connection, payment_id: uuid.UUID, **f: Any) -> asyncpg.Record:
    sets = ", ".join(f"{c} = ${i + 2}" for i, c in enumerate(f))
    return await conn.fetchrow(f"UPDATE payments SET {sets}, updated_at = now() "
                               f"WHERE payment_id = $1 RETURNING {PAYMENT_COLUMNS}", payment_id, *f.values())


# ------------------------------------------------------------------ mandates
async def active_mandate(conn: asyncpg.Connection, ban: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT m.*, x.type, x.last4, x.brand FROM mandates m JOIN methods x USING (method_id)
           WHERE m.billing_account_number = $1 AND m.status = 'active'""", ban)


async def drafts_in_flight(conn: asyncpg.Connection, mandate_id: uuid.UUID) -> list[asyncpg.Record]:
    """A mandate's drafts already made and not yet settled or returned (they still happen)."""
    return await conn.fetch(
        """SELECT payment_id, amount_cents, expected_withdrawal_date FROM payments
           WHERE mandate_id = $1 AND status IN ('pending', 'originated')
           ORDER BY expected_withdrawal_date""", mandate_id)


async def insert_mandate(conn: asyncpg.Connection, **f: Any) -> asyncpg.Record | None:
    """None when the account already has an active mandate (the unique partial index)."""
    cols = list(f)
    sql = (f"INSERT INTO mandates ({', '.join(cols)}) VALUES "
           f"({', '.join(f'${i + 1}' for i in range(len(cols)))}) "
           "ON CONFLICT (billing_account_number) WHERE status = 'active' DO NOTHING RETURNING *")
    return await conn.fetchrow(sql, *f.values())


async def cancel_mandate(conn: asyncpg.Connection, mandate_id: uuid.UUID, reason: str
                         ) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """UPDATE mandates SET status = 'cancelled', cancelled_at = now(), cancel_reason = $2
           WHERE mandate_id = $1 AND status = 'active' RETURNING *""", mandate_id, reason)


async def change_mandate_method(conn: asyncpg.Connection, mandate_id: uuid.UUID,
                                method_id: uuid.UUID, text: str, at: datetime, ip: str | None,
                                last4: str) -> None:
    await conn.execute(
        """UPDATE mandates SET method_id = $2, authorization_text = $3, authorized_at = $4,
             authorized_ip = $5, authorized_method_last4 = $6 WHERE mandate_id = $1""",
        mandate_id, method_id, text, at, ip, last4)


async def job_done(conn: asyncpg.Connection, job: str, day: date) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM job_runs WHERE job = $1 AND business_date = $2", job, day)


async def record_job(conn: asyncpg.Connection, job: str, day: date, summary: dict) -> None:
    await conn.execute("""INSERT INTO job_runs (job, business_date, summary) VALUES ($1, $2, $3::jsonb)
                          ON CONFLICT (job, business_date) DO UPDATE SET summary = EXCLUDED.summary,
                          finished_at = now()""", job, day, summary)
