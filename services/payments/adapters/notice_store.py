"""SQL of Regulation E's autopay notices: the mandates a cycle's notice job still has to look
at, with the amount their draft would take now and their previous draft's; the one row per
mandate and cycle (autopay_notices) that makes a notice go out once and caps the draft."""
from __future__ import annotations

import uuid
from datetime import date

import asyncpg

# The amount is the draft's (services/payments/adapters/ach_store.py _DRAFT) without its
# ceiling: what is owed less the account's payments on their way. The previous draft is the
# mandate's latest presentment that was sent (a retry is the same draft again; a debit held
# out of a file never left).
_TO_NOTICE = """
SELECT m.mandate_id, m.billing_account_number, m.plan_type, m.contact, m.notice_low_cents,
       m.notice_high_cents, x.type, x.last4, x.brand,
       greatest(o.total_balance_cents - fly.cents, 0)::bigint AS amount_cents,
       prev.amount_cents AS previous_amount_cents
FROM mandates m
JOIN owed_accounts o ON o.billing_account_number = m.billing_account_number
JOIN methods x ON x.method_id = m.method_id
CROSS JOIN LATERAL (
    SELECT coalesce(sum(p.amount_cents), 0)::bigint AS cents FROM payments p
    WHERE p.billing_account_number = m.billing_account_number
      AND p.status IN ('pending', 'originated')
) fly
LEFT JOIN LATERAL (
    SELECT p.amount_cents FROM payments p
    WHERE p.mandate_id = m.mandate_id AND p.retry_of IS NULL AND p.status <> 'failed'
    ORDER BY p.submitted_on DESC, p.created_at DESC LIMIT 1
) prev ON true
WHERE m.status = 'active' AND m.mandate_id > $2 AND x.status = 'active'
  AND x.type IN ('checking', 'savings')
  AND NOT EXISTS (SELECT 1 FROM autopay_notices n WHERE n.mandate_id = m.mandate_id AND n.cycle = $1)
ORDER BY m.mandate_id
LIMIT $3"""


async def mandates_to_notice(conn: asyncpg.Connection, cycle: str, after: uuid.UUID,
                             limit: int) -> list[asyncpg.Record]:
    """Active mandates (bank accounts in use) with no notice row for `cycle`, after
    `after` in id order."""
    return await conn.fetch(_TO_NOTICE, cycle, after, limit)


async def upcoming_amount(conn: asyncpg.Connection, ban: str) -> int:
    """What a draft of the account would take now, before any ceiling."""
    return await conn.fetchval(
        """SELECT greatest(o.total_balance_cents - coalesce((
                    SELECT sum(p.amount_cents) FROM payments p
                    WHERE p.billing_account_number = o.billing_account_number
                      AND p.status IN ('pending', 'originated')), 0), 0)::bigint
           FROM owed_accounts o WHERE o.billing_account_number = $1""", ban) or 0


async def record_notice(conn: asyncpg.Connection, *, mandate_id: uuid.UUID, cycle: str,
                        draft_date: date, amount_cents: int, previous_amount_cents: int | None,
                        ceiling_cents: int, reason: str, noticed: bool,
                        business_date: date) -> bool:
    """True when this call wrote the cycle's row; False when it was already there (a rerun,
    or another run that got there first: the unique key makes this one wait for it)."""
    row = await conn.fetchval(
        """INSERT INTO autopay_notices (mandate_id, cycle, draft_date, amount_cents,
               previous_amount_cents, ceiling_cents, reason, noticed, business_date)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           ON CONFLICT (mandate_id, cycle) DO NOTHING RETURNING 1""",
        mandate_id, cycle, draft_date, amount_cents, previous_amount_cents, ceiling_cents,
        reason, noticed, business_date)
    return row is not None


async def notice_of(conn: asyncpg.Connection, mandate_id: uuid.UUID,
                    cycle: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM autopay_notices WHERE mandate_id = $1 AND cycle = $2",
                               mandate_id, cycle)


async def set_notice_range(conn: asyncpg.Connection, mandate_id: uuid.UUID, low_cents: int,
                           high_cents: int) -> None:
    await conn.execute("UPDATE mandates SET notice_low_cents = $2, notice_high_cents = $3 "
                       "WHERE mandate_id = $1", mandate_id, low_cents, high_cents)

