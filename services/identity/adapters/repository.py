"""All of identity's SQL (except throttling): members, enrollments, billing accounts,
portal accounts and reset tokens."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.identity.domain.lookup import Candidate

# ----------------------------------------------------------------------------- intake


async def upsert_member(conn: asyncpg.Connection, *, member_id: UUID, household_id: str,
                        first_name: str, last_name: str, first_name_norm: str,
                        last_name_norm: str, date_of_birth: date, ssn: Any | None,
                        email: str | None, phone: str | None, language: str,
                        event_at: datetime) -> None:
    """Insert the household's member or replace what changed. An event older than the last
    one applied changes nothing; a missing SSN keeps the one on file; contact details the
    member changed in the portal win over the enrollment's."""
    await conn.execute(
        """INSERT INTO members AS m (member_id, household_id, first_name, last_name,
               first_name_norm, last_name_norm, date_of_birth, ssn_hash, ssn_encrypted,
               ssn_key_id, email, phone, language, last_event_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
           ON CONFLICT (household_id) DO UPDATE SET
               first_name = EXCLUDED.first_name, last_name = EXCLUDED.last_name,
               first_name_norm = EXCLUDED.first_name_norm, last_name_norm = EXCLUDED.last_name_norm,
               date_of_birth = EXCLUDED.date_of_birth,
               ssn_hash = COALESCE(EXCLUDED.ssn_hash, m.ssn_hash),
               ssn_encrypted = CASE WHEN EXCLUDED.ssn_hash IS NULL OR EXCLUDED.ssn_hash = m.ssn_hash
                                    THEN COALESCE(m.ssn_encrypted, EXCLUDED.ssn_encrypted)
                                    ELSE EXCLUDED.ssn_encrypted END,
               ssn_key_id = CASE WHEN EXCLUDED.ssn_hash IS NULL OR EXCLUDED.ssn_hash = m.ssn_hash
                                 THEN COALESCE(m.ssn_key_id, EXCLUDED.ssn_key_id)
                                 ELSE EXCLUDED.ssn_key_id END,
               email = CASE WHEN m.contact_source = 'member' THEN m.email ELSE EXCLUDED.email END,
               phone = CASE WHEN m.contact_source = 'member' THEN m.phone ELSE EXCLUDED.phone END,
               language = CASE WHEN m.contact_source = 'member' THEN m.language ELSE EXCLUDED.language END,
               last_event_at = EXCLUDED.last_event_at, updated_at = now()
           WHERE m.last_event_at <= EXCLUDED.last_event_at""",
        member_id, household_id, first_name, last_name, first_name_norm, last_name_norm,
        date_of_birth, ssn.digest if ssn else None, ssn.ciphertext if ssn else None,
        ssn.key_id if ssn else None, email, phone, language, event_at)


async def upsert_enrollment(conn: asyncpg.Connection, *, enrollment_id: str, household_id: str,
                            plan_type: str, coverage_year: int, coverage_start: date,
                            plan_name: str, carrier: str, shopped_at: datetime,
                            event_at: datetime) -> None:
    await conn.execute(
        """INSERT INTO enrollments AS e (enrollment_id, household_id, plan_type, coverage_year,
               coverage_start, plan_name, carrier, shopped_at, last_event_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           ON CONFLICT (enrollment_id) DO UPDATE SET
               household_id = EXCLUDED.household_id, plan_type = EXCLUDED.plan_type,
               coverage_year = EXCLUDED.coverage_year, coverage_start = EXCLUDED.coverage_start,
               plan_name = EXCLUDED.plan_name, carrier = EXCLUDED.carrier,
               shopped_at = EXCLUDED.shopped_at, last_event_at = EXCLUDED.last_event_at,
               updated_at = now()
           WHERE e.last_event_at <= EXCLUDED.last_event_at""",
        enrollment_id, household_id, plan_type, coverage_year, coverage_start, plan_name,
        carrier, shopped_at, event_at)


async def terminate_enrollment(conn: asyncpg.Connection, enrollment_id: str, reason: str,
                               effective: date) -> None:
    await conn.execute(
        """UPDATE enrollments SET status = 'terminated', termination_reason = $2,
               terminated_on = $3, updated_at = now() WHERE enrollment_id = $1""",
        enrollment_id, reason, effective)


async def record_history(conn: asyncpg.Connection, event_id: UUID, enrollment_id: str,
                         event_type: str, occurred_at: datetime, detail: dict) -> None:
    await conn.execute(
        """INSERT INTO enrollment_history (event_id, enrollment_id, event_type, occurred_at, detail)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING""",
        event_id, enrollment_id, event_type, occurred_at, detail)


async def upsert_billing_account(conn: asyncpg.Connection, ban: str, household_id: str,
                                 plan_type: str) -> None:
    await conn.execute(
        """INSERT INTO billing_accounts (billing_account_number, household_id, plan_type)
           VALUES ($1, $2, $3)
           ON CONFLICT (household_id, plan_type) DO UPDATE
               SET billing_account_number = EXCLUDED.billing_account_number""",
        ban, household_id, plan_type)


# ----------------------------------------------------------------------------- lookup

# Lookups run in batches: one statement, one round trip for every lookup waiting when a
# connection is free (adapters/batching.py), so a busy service pays the statement's fixed
# costs (network, transaction, executor start) once per batch instead of once per lookup.
# The statement counts every attempt against its throttling subjects (the data-modifying CTE
# always runs; `$5..$8` are the batch's distinct counters, in one order every replica uses,
# so two batches lock rows in the same order and cannot deadlock), then, per lookup, finds
# the household(s) by the ID (only one of `$1..$3` is set for a lookup), the member, the
# billing account of the plan type and the enrollments of that plan type. A terminated
# enrollment still identifies its member (a balance may be owed) when no active one exists.
# One row carries the counters' totals (in the order given) and no candidate; every other
# row is one candidate of lookup `i` (its 1-based position in the batch).
_LOOKUP_BATCH = """
WITH counters AS (
    SELECT * FROM unnest($5::text[], $6::bytea[], $7::timestamptz[], $8::int[])
                  WITH ORDINALITY AS u(scope, subject, ws, adds, k)
),
hit AS (
    INSERT INTO throttle_counters AS t (scope, subject, window_start, hits)
    SELECT scope, subject, ws, adds FROM counters ORDER BY k
    ON CONFLICT (scope, subject, window_start) DO UPDATE SET hits = t.hits + EXCLUDED.hits
    RETURNING t.scope, t.subject, t.window_start, t.hits
),
totals AS (
    SELECT array_agg(h.hits ORDER BY c.k) AS counts
    FROM hit h JOIN counters c
      ON c.scope = h.scope AND c.subject = h.subject AND c.ws = h.window_start
),
req AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::text[])
                  WITH ORDINALITY AS r(enrollment_id, ban, ssn_hash, plan_type, i)
),
candidates AS (
    SELECT r.i, c.*
    FROM req r
    CROSS JOIN LATERAL (
        SELECT m.member_id, m.first_name, m.first_name_norm, m.last_name_norm, m.date_of_birth,
               m.email, m.phone, m.language,
               (SELECT b.billing_account_number FROM billing_accounts b
                 WHERE b.household_id = m.household_id AND b.plan_type = r.plan_type) AS ban,
               e.ids AS enrollment_ids, e.earliest AS earliest_shopped_at
        FROM members m
        CROSS JOIN LATERAL (
            SELECT COALESCE(array_agg(en.enrollment_id ORDER BY en.coverage_year, en.enrollment_id)
                                FILTER (WHERE en.status = 'active'),
                            array_agg(en.enrollment_id ORDER BY en.coverage_year, en.enrollment_id)) AS ids,
                   COALESCE(min(en.shopped_at) FILTER (WHERE en.status = 'active'),
                            min(en.shopped_at)) AS earliest
            FROM enrollments en
            WHERE en.household_id = m.household_id AND en.plan_type = r.plan_type
              AND (r.enrollment_id IS NULL OR en.enrollment_id = r.enrollment_id)
        ) e
        WHERE m.household_id IN (
            SELECT household_id FROM enrollments
             WHERE enrollment_id = r.enrollment_id AND plan_type = r.plan_type
            UNION ALL
            SELECT household_id FROM members WHERE ssn_hash = r.ssn_hash
            UNION ALL
            SELECT household_id FROM billing_accounts
             WHERE billing_account_number = r.ban AND plan_type = r.plan_type)
        LIMIT 5
    ) c
)
SELECT t.counts, c.* FROM totals t LEFT JOIN candidates c ON false
UNION ALL
SELECT NULL, c.* FROM candidates c
"""

Counter = tuple[str, bytes, datetime]  # throttling scope, subject (a keyed hash), window start


@dataclass(frozen=True)
class LookupQuery:
    """One lookup of a batch: the ID (an SSN as its keyed hash), the plan type, and the
    throttling counters the attempt counts against."""
    id_type: str
    key: Any
    plan_type: str
    counters: tuple[Counter, ...]


async def lookup_candidates(conn: asyncpg.Connection, queries: list[LookupQuery]
                            ) -> list[tuple[dict[str, int], list[Candidate]]]:
    """Count every attempt and find the members each ID points at, with what the lookup rules
    need: one indexed statement, one round trip for the whole batch. Returns, per query, its
    throttle counts by scope (as if the batch's attempts had been counted one after the
    other, in order) and its candidates."""
    enrollment_ids, bans, ssn_hashes, plans = [], [], [], []
    adds: dict[Counter, int] = {}
    for q in queries:
        enrollment_ids.append(q.key if q.id_type == "enrollment_id" else None)
        bans.append(q.key if q.id_type == "billing_account_number" else None)
        ssn_hashes.append(q.key if q.id_type == "ssn" else None)
        plans.append(q.plan_type)
        for counter in q.counters:
            adds[counter] = adds.get(counter, 0) + 1
    order = sorted(adds)  # the lock order every batch of every replica uses
    rows = await conn.fetch(
        _LOOKUP_BATCH, enrollment_ids, bans, ssn_hashes, plans, [c[0] for c in order],
        [c[1] for c in order], [c[2] for c in order], [adds[c] for c in order])
    totals: dict[Counter, int] = {}
    found: dict[int, list[Candidate]] = {}
    for r in rows:
        if r["counts"] is not None:  # the one row of counter totals
            totals = dict(zip(order, r["counts"]))
            continue
        found.setdefault(r["i"], []).append(Candidate(
            member_id=str(r["member_id"]), first_name=r["first_name"],
            first_name_norm=r["first_name_norm"], last_name_norm=r["last_name_norm"],
            date_of_birth=r["date_of_birth"], billing_account_number=r["ban"],
            enrollment_ids=tuple(r["enrollment_ids"] or ()),
            earliest_shopped_at=r["earliest_shopped_at"],
            email=r["email"], phone=r["phone"], language=r["language"]))
    seen: dict[Counter, int] = {}
    out = []
    for i, q in enumerate(queries, 1):
        hits = {}
        for counter in q.counters:
            seen[counter] = seen.get(counter, 0) + 1
            hits[counter[0]] = totals[counter] - adds[counter] + seen[counter]
        out.append((hits, found.get(i, [])))
    return out


# ----------------------------------------------------------------------------- members


async def member_view(conn: asyncpg.Connection, member_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT m.member_id, m.household_id, m.first_name, m.last_name, m.email, m.phone,
                  m.language, m.email_enabled, m.sms_enabled, m.ssn_encrypted, m.ssn_key_id,
                  a.username,
                  COALESCE((SELECT jsonb_agg(jsonb_build_object(
                                'billing_account_number', b.billing_account_number,
                                'plan_type', b.plan_type) ORDER BY b.plan_type)
                            FROM billing_accounts b WHERE b.household_id = m.household_id),
                           '[]'::jsonb) AS accounts
           FROM members m LEFT JOIN accounts a ON a.member_id = m.member_id
           WHERE m.member_id = $1""", member_id)


async def billing_account_numbers(conn: asyncpg.Connection, member_id: UUID) -> list[str]:
    rows = await conn.fetch(
        """SELECT b.billing_account_number FROM billing_accounts b
           JOIN members m ON m.household_id = b.household_id
           WHERE m.member_id = $1 ORDER BY b.plan_type""", member_id)
    return [r[0] for r in rows]


async def update_contact(conn: asyncpg.Connection, member_id: UUID, changes: dict[str, Any]) -> bool:
    allowed = ("email", "phone", "language", "email_enabled", "sms_enabled")
    assert set(changes) <= set(allowed)
    cols = [c for c in allowed if c in changes]
    sets = ", ".join(f"{c} = ${i + 2}" for i, c in enumerate(cols))
    sets = (sets + ", " if sets else "") + "contact_source = 'member', updated_at = now()"
    result = await conn.execute(f"UPDATE members SET {sets} WHERE member_id = $1",
                                member_id, *[changes[c] for c in cols])
    if "email" in changes and changes["email"]:
        await conn.execute("UPDATE accounts SET email = $2, updated_at = now() WHERE member_id = $1",
                           member_id, changes["email"])
    return result.endswith(" 1")


# ----------------------------------------------------------------------------- portal accounts


async def create_account(conn: asyncpg.Connection, member_id: UUID, username: str, email: str,
                         password_hash: str) -> None:
    await conn.execute(
        """INSERT INTO accounts (member_id, username, username_norm, email, password_hash)
           VALUES ($1, $2, $3, $4, $5)""", member_id, username, username.lower(), email,
        password_hash)


async def account_by_member(conn: asyncpg.Connection, member_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM accounts WHERE member_id = $1", member_id)


async def account_by_username(conn: asyncpg.Connection, username: str, *,
                              for_update: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT a.*, m.phone, m.language, m.email AS contact_email FROM accounts a "
        "JOIN members m USING (member_id) WHERE a.username_norm = $1"
        + (" FOR UPDATE OF a" if for_update else ""), username.lower())


async def accounts_by_email(conn: asyncpg.Connection, email: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT a.*, m.phone, m.language, m.email AS contact_email FROM accounts a "
        "JOIN members m USING (member_id) "
        "WHERE lower(a.email) = lower($1) LIMIT 10", email)


async def set_logged_in(conn: asyncpg.Connection, member_id: UUID) -> None:
    await conn.execute("UPDATE accounts SET last_login_at = now() WHERE member_id = $1", member_id)


# ----------------------------------------------------------------------------- log-in throttling


async def login_blocked_until(conn: asyncpg.Connection, subjects: list[bytes],
                              now: datetime) -> datetime | None:
    """The latest pause still running for any of the subjects, or None."""
    return await conn.fetchval(
        """SELECT max(blocked_until) FROM login_failures
           WHERE subject = ANY($1::bytea[]) AND blocked_until > $2""", subjects, now)


async def count_login_failure(conn: asyncpg.Connection, scope: str, subject: bytes,
                              user_subject: bytes, now: datetime, memory_s: int) -> int:
    """One more wrong password for the subject; returns its failures in a row (a run older
    than `memory_s` starts again)."""
    return await conn.fetchval(
        """INSERT INTO login_failures AS f (scope, subject, user_subject, failures, last_failure_at)
           VALUES ($1, $2, $3, 1, $4)
           ON CONFLICT (scope, subject) DO UPDATE SET
               failures = CASE WHEN f.last_failure_at < $4 - make_interval(secs => $5)
                               THEN 1 ELSE f.failures + 1 END,
               last_failure_at = $4
           RETURNING failures""", scope, subject, user_subject, now, memory_s)


async def block_login(conn: asyncpg.Connection, scope: str, subject: bytes, until: datetime) -> None:
    await conn.execute("UPDATE login_failures SET blocked_until = $3 WHERE scope = $1 AND subject = $2",
                       scope, subject, until)


async def forget_login_failures(conn: asyncpg.Connection, *, subject: bytes | None = None,
                                user_subject: bytes | None = None) -> None:
    """A success forgets its pair's run; a password reset every run of its username."""
    if subject is not None:
        await conn.execute("DELETE FROM login_failures WHERE subject = $1", subject)
    if user_subject is not None:
        await conn.execute("DELETE FROM login_failures WHERE user_subject = $1", user_subject)


async def purge_login_failures(pool: asyncpg.Pool, older_than: datetime) -> int:
    result = await pool.execute(
        "DELETE FROM login_failures WHERE last_failure_at < $1 AND (blocked_until IS NULL OR blocked_until < $1)",
        older_than)
    return int(result.split()[-1])


async def set_password(conn: asyncpg.Connection, member_id: UUID, password_hash: str) -> None:
    await conn.execute(
        """UPDATE accounts SET password_hash = $2, updated_at = now() WHERE member_id = $1""", member_id, password_hash)


async def add_reset_token(conn: asyncpg.Connection, token_hash: bytes, member_id: UUID,
                          expires_at: datetime) -> None:
    await conn.execute(
        "INSERT INTO password_resets (token_hash, member_id, expires_at) VALUES ($1, $2, $3)",
        token_hash, member_id, expires_at)


async def claim_reset_token(conn: asyncpg.Connection, token_hash: bytes,
                            now: datetime) -> asyncpg.Record | None:
    """The usable token's member (locked until the transaction ends), or None."""
    return await conn.fetchrow(
        """SELECT r.member_id, a.username FROM password_resets r
           JOIN accounts a USING (member_id)
           WHERE r.token_hash = $1 AND r.used_at IS NULL AND r.expires_at > $2
           FOR UPDATE OF r""", token_hash, now)


async def reset_token_state(conn: asyncpg.Connection, token_hash: bytes, now: datetime) -> str:
    """'usable', 'used', 'expired' or 'unknown': what a reset link would do, changing nothing."""
    row = await conn.fetchrow("SELECT used_at, expires_at FROM password_resets WHERE token_hash = $1",
                              token_hash)
    if row is None:
        return "unknown"
    if row["used_at"] is not None:
        return "used"
    return "usable" if row["expires_at"] > now else "expired"


async def use_reset_tokens(conn: asyncpg.Connection, member_id: UUID) -> None:
    """Spend every outstanding token of the member (the one used and any older ones)."""
    await conn.execute(
        "UPDATE password_resets SET used_at = now() WHERE member_id = $1 AND used_at IS NULL",
        member_id)
