"""All of notify's SQL: projections, the notification log, the sender's claims."""
from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

import asyncpg
import orjson

from services.notify.domain.recipients import Profile
from shared import outbox, tracing
from shared.contracts.envelope import Envelope

# ------------------------------------------------------------------ projections


async def upsert_household(conn: asyncpg.Connection, household_id: str, first_name: str | None,
                           email: str | None, phone: str | None, language: str) -> None:
    await conn.execute(
        """INSERT INTO household_contacts (household_id, first_name, email, phone, language)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (household_id) DO UPDATE SET first_name = EXCLUDED.first_name,
             email = EXCLUDED.email, phone = EXCLUDED.phone, language = EXCLUDED.language,
             updated_at = now()""", household_id, first_name, email, phone, language)


async def upsert_account(conn: asyncpg.Connection, ban: str, household_id: str,
                         plan_type: str | None, aptc: bool) -> None:
    await conn.execute(
        """INSERT INTO accounts (billing_account_number, household_id, plan_type, aptc)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (billing_account_number) DO UPDATE SET household_id = EXCLUDED.household_id,
             plan_type = EXCLUDED.plan_type, aptc = EXCLUDED.aptc""", ban, household_id, plan_type, aptc)


async def upsert_member(conn: asyncpg.Connection, member_id: str, bans: Sequence[str], *,
                        first_name: str | None = None, email: str | None = None,
                        phone: str | None = None, language: str | None = None,
                        email_enabled: bool | None = None, sms_enabled: bool | None = None,
                        phone_is_current: bool = False) -> None:
    """Insert or update a member; fields left None keep their stored value, except the phone
    when `phone_is_current` (the event states the contact as it now is: no phone, none)."""
    await conn.execute(
        """INSERT INTO members (member_id, first_name, email, phone, language, email_enabled, sms_enabled)
           VALUES ($1, $2, $3, $4, coalesce($5, 'en'), coalesce($6, true), coalesce($7, false))
           ON CONFLICT (member_id) DO UPDATE SET
             first_name = coalesce(EXCLUDED.first_name, members.first_name),
             email = coalesce($3, members.email),
             phone = CASE WHEN $8 THEN $4 ELSE coalesce($4, members.phone) END,
             language = coalesce($5, members.language),
             email_enabled = coalesce($6, members.email_enabled),
             sms_enabled = coalesce($7, members.sms_enabled), updated_at = now()""",
        member_id, first_name, email, phone, language, email_enabled, sms_enabled, phone_is_current)
    if bans:
        await conn.execute(
            """INSERT INTO member_accounts (member_id, billing_account_number)
               SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING""", member_id, list(bans))


async def set_balances(conn: asyncpg.Connection,
                       balances: Sequence[tuple[str, int, list, datetime]]) -> None:
    """Keep each account's newest balance only (events of one account arrive in order; a
    replayed older one must not overwrite a newer one). Many (account, total, lines, as of)
    in one statement, leaving the rows as setting each in turn would (for an account given
    twice, the newer; of two as new, the later): a month-end batch holds a balance.changed
    for every payment applied."""
    newest: dict[str, tuple[str, int, list, datetime]] = {}
    for balance in balances:
        kept = newest.get(balance[0])
        if kept is None or kept[3] <= balance[3]:
            newest[balance[0]] = balance
    if not newest:
        return
    bans, totals, lines, as_of = zip(*newest.values())
    # Each account's lines go as JSON text: a list of lists would be read as one array of
    # two dimensions, not as an array of JSON arrays.
    await conn.execute(
        """INSERT INTO balances (billing_account_number, total_balance_cents, lines, as_of)
           SELECT ban, total, lines::jsonb, as_of
           FROM unnest($1::text[], $2::bigint[], $3::text[], $4::timestamptz[])
                AS u(ban, total, lines, as_of)
           ON CONFLICT (billing_account_number) DO UPDATE SET
             total_balance_cents = EXCLUDED.total_balance_cents, lines = EXCLUDED.lines,
             as_of = EXCLUDED.as_of WHERE balances.as_of <= EXCLUDED.as_of""",
        list(bans), list(totals), [orjson.dumps(x).decode() for x in lines], list(as_of))


async def set_autopay(conn: asyncpg.Connection, ban: str, mandate_id: str, active: bool,
                      as_of: datetime) -> None:
    await conn.execute(
        """INSERT INTO autopay (billing_account_number, mandate_id, active, as_of)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (billing_account_number) DO UPDATE SET mandate_id = EXCLUDED.mandate_id,
             active = EXCLUDED.active, as_of = EXCLUDED.as_of WHERE autopay.as_of <= EXCLUDED.as_of
             AND (EXCLUDED.active OR autopay.mandate_id = EXCLUDED.mandate_id)""",
        ban, mandate_id, active, as_of)


# ------------------------------------------------------------------ profiles

_ACCOUNT_PROFILES = """
SELECT b.ban, a.plan_type, h.first_name h_first, h.email h_email, h.phone h_phone,
       h.language h_language, m.member_id, m.first_name m_first, m.email m_email,
       m.phone m_phone, m.language m_language, m.email_enabled, m.sms_enabled
FROM unnest($1::text[]) AS b(ban)
LEFT JOIN accounts a ON a.billing_account_number = b.ban
LEFT JOIN household_contacts h ON h.household_id = a.household_id
LEFT JOIN LATERAL (
    SELECT m.* FROM member_accounts ma JOIN members m USING (member_id)
    WHERE ma.billing_account_number = b.ban ORDER BY m.updated_at DESC LIMIT 1) m ON true
"""


async def account_profiles(conn: asyncpg.Connection, bans: Sequence[str]) -> dict[str, Profile]:
    """What notify knows of each account's people: the member's own details first."""
    if not bans:
        return {}
    rows = await conn.fetch(_ACCOUNT_PROFILES, list(set(bans)))
    out = {}
    for r in rows:
        has_member = r["member_id"] is not None
        out[r["ban"]] = Profile(
            email=r["m_email"] or r["h_email"], phone=r["m_phone"] or r["h_phone"],
            language=(r["m_language"] if has_member else r["h_language"]) or "en",
            email_enabled=r["email_enabled"] if has_member else True,
            sms_enabled=r["sms_enabled"] if has_member else False,
            first_name=r["m_first"] or r["h_first"], plan_type=r["plan_type"],
            member_id=r["member_id"])
    return out


async def member_profiles(conn: asyncpg.Connection, member_ids: Sequence[str]) -> dict[str, Profile]:
    if not member_ids:
        return {}
    rows = await conn.fetch("SELECT * FROM members WHERE member_id = ANY($1::text[])",
                            list(set(member_ids)))
    return {r["member_id"]: Profile(
        email=r["email"], phone=r["phone"], language=r["language"],
        email_enabled=r["email_enabled"], sms_enabled=r["sms_enabled"],
        first_name=r["first_name"], member_id=r["member_id"]) for r in rows}


# ------------------------------------------------------------------ notifications

NOTIFICATION_COLUMNS = (
    "notification_id", "source_event_id", "source_event_type", "channel", "template",
    "language", "event_key", "billing_account_number", "member_id", "correlation_id",
    "recipient", "recipient_masked", "subject", "body_text", "body_html", "traceparent")


async def insert_notifications(conn: asyncpg.Connection, rows: Sequence[tuple]) -> int:
    """Record pending notifications; one already recorded for the same (event, channel) is
    left alone. Returns how many are new."""
    if not rows:
        return 0
    # Each continues the trace of its source event (the second column), while tracing is on.
    columns = list(zip(*((*r, tracing.parent_of(r[1])) for r in rows)))
    types = ("uuid", "uuid", "text", "text", "text", "text", "text", "text", "text", "text",
             "text", "text", "text", "text", "text", "text")
    select = ", ".join(f"${i + 1}::{t}[]" for i, t in enumerate(types))
    result = await conn.fetch(
        f"""WITH m AS (
                INSERT INTO notification_messages ({", ".join(NOTIFICATION_COLUMNS)})
                SELECT * FROM unnest({select})
                ON CONFLICT (notification_id) DO NOTHING RETURNING notification_id)
            INSERT INTO notification_state (notification_id)
            SELECT notification_id FROM m RETURNING 1""",
        *[list(c) for c in columns])
    return len(result)


async def hold_until(conn: asyncpg.Connection, source_event_id: uuid.UUID, at: datetime) -> None:
    """A notification just recorded goes out no earlier than `at` (a scheduled message)."""
    await conn.execute("""UPDATE notification_state s SET next_attempt_at = $2
                          FROM notification_messages m
                          WHERE m.source_event_id = $1 AND s.notification_id = m.notification_id
                            AND s.status = 'pending' AND s.attempts = 0""",
                       source_event_id, at)


async def claim_due(conn: asyncpg.Connection, limit: int, lease_s: float) -> list[asyncpg.Record]:
    """Claim due notifications: rows locked by another replica are skipped, and the claimed
    ones are pushed out of reach for `lease_s` so no other replica picks them up while
    they are being sent (a crash mid-send frees them when the lease ends).

    The due rows are picked (and locked) once, as an array, before the update: the update
    then finds each by its key. Written as a join instead, every row another sender had
    just leased or marked sent made PostgreSQL re-run the pick for that row, and a backlog
    of a few thousand messages cost it more CPU than everything else notify does."""
    return await conn.fetch(
        """WITH claimed AS (
               UPDATE notification_state SET next_attempt_at = now() + make_interval(secs => $2)
               WHERE notification_id = ANY(ARRAY(
                     SELECT notification_id FROM notification_state
                     WHERE status = 'pending' AND next_attempt_at <= now()
                     ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED))
               RETURNING notification_id, attempts)
           SELECT m.*, c.attempts FROM claimed c JOIN notification_messages m USING (notification_id)
           """, limit, lease_s)


async def settle(conn: asyncpg.Connection, *, sent: tuple[list, list],
                 retry: tuple[list, list, list], failed: tuple[list, list],
                 events: Iterable[Envelope]) -> None:
    """Record a group of deliveries and their events in one statement (so one commit, one
    round trip): `sent` (ids, provider ids), `retry` (ids, delays in seconds, errors),
    `failed` (ids, errors). Only a notification still pending changes."""
    await conn.execute(_SETTLE, *sent, *retry, *failed, *outbox.row_arrays(events))


_SETTLE = f"""
    WITH sent AS (
        UPDATE notification_state n SET status = 'sent', sent_at = now(), attempts = attempts + 1,
               provider_id = u.provider_id, last_error = NULL
        FROM unnest($1::uuid[], $2::text[]) AS u(id, provider_id)
        WHERE n.notification_id = u.id AND n.status = 'pending'),
    retried AS (
        UPDATE notification_state n SET attempts = attempts + 1, last_error = u.error,
               next_attempt_at = now() + make_interval(secs => u.delay)
        FROM unnest($3::uuid[], $4::float8[], $5::text[]) AS u(id, delay, error)
        WHERE n.notification_id = u.id AND n.status = 'pending'),
    failed AS (
        UPDATE notification_state n SET status = 'failed', attempts = attempts + 1,
               last_error = u.error
        FROM unnest($6::uuid[], $7::text[]) AS u(id, error)
        WHERE n.notification_id = u.id AND n.status = 'pending')
    {outbox.insert_sql(8)}"""


# ------------------------------------------------------------------ delivery log

_LOG_COLUMNS = """notification_id, source_event_id, source_event_type, channel, template,
    language, billing_account_number, member_id, recipient_masked, status, attempts,
    sent_at, created_at, last_error"""


async def list_notifications(conn: asyncpg.Connection, *, ban: str | None, member_id: str | None,
                             limit: int) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"""SELECT {_LOG_COLUMNS} FROM notifications
            WHERE ($1::text IS NULL OR billing_account_number = $1)
              AND ($2::text IS NULL OR member_id = $2)
            ORDER BY created_at DESC, notification_id LIMIT $3""", ban, member_id, limit)
    return [dict(r) for r in rows]


async def get_notification(conn: asyncpg.Connection, notification_id) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"SELECT {_LOG_COLUMNS}, subject FROM notifications WHERE notification_id = $1",
        notification_id)
    return dict(row) if row else None


# ------------------------------------------------------------------ reminders


async def reminder_candidates(conn: asyncpg.Connection, due: date) -> list[asyncpg.Record]:
    """Accounts with a balance on a line due on `due` and no active autopay."""
    return await conn.fetch(
        """SELECT b.billing_account_number, b.total_balance_cents
           FROM balances b
           LEFT JOIN autopay ap ON ap.billing_account_number = b.billing_account_number AND ap.active
           WHERE b.total_balance_cents > 0 AND ap.billing_account_number IS NULL
             AND EXISTS (SELECT 1 FROM jsonb_array_elements(b.lines) l
                         WHERE (l->>'due_date') = $1 AND (l->>'balance_cents')::bigint > 0)
           ORDER BY b.billing_account_number""", due.isoformat())


async def record_job_run(conn: asyncpg.Connection, job: str, day: date, detail: dict) -> bool:
    """True if this is the first run recorded for the date."""
    row = await conn.fetchval(
        """INSERT INTO job_runs (job, business_date, detail) VALUES ($1, $2, $3)
           ON CONFLICT DO NOTHING RETURNING 1""", job, day, detail)
    return row is not None


async def job_ran(conn: asyncpg.Connection | asyncpg.Pool, job: str, day: date) -> bool:
    """Whether a run of `job` for the business date is recorded (by the scheduler or a CLI)."""
    return bool(await conn.fetchval(
        "SELECT 1 FROM job_runs WHERE job = $1 AND business_date = $2", job, day))
