"""Reinstatement after a termination for non-payment (956 CMR 12.12): the quote the account
answer carries, and whether a payment still reinstates (domain/reinstatement.py has the
rules; this module reads what they need)."""
from __future__ import annotations

from datetime import date

import asyncpg

from services.billing.adapters import reinstatement_sql as sql
from services.billing.domain.reinstatement import Quote, quote, reinstates


async def _noticed_on(conn: asyncpg.Connection, ban: str, row: asyncpg.Record) -> date:
    # A termination recorded without its notice row (none is expected) counts from its
    # effective date: the earlier of the two, so the window is never longer than the rule's.
    noticed = await sql.termination_noticed_on(conn, ban, row["grace_start"])
    return noticed or row["terminated_on"]


async def account_quote(conn: asyncpg.Connection, ban: str, row: asyncpg.Record | None,
                        total_cents: int, plan_type: str, today: date) -> Quote | None:
    """The reinstatement quote of an account terminated for non-payment (None otherwise);
    `row` is its delinquency row, `total_cents` its balance."""
    if row is None or row["status"] != "terminated" or row["terminated_on"] is None:
        return None
    return quote(noticed_on=await _noticed_on(conn, ban, row), terminated_on=row["terminated_on"],
                 total_cents=total_cents, plan_type=plan_type,
                 lines=await sql.terminated_lines(conn, ban, row["terminated_on"]),
                 billed=await sql.billed(conn, ban), today=today)


async def payment_reinstates(conn: asyncpg.Connection, ban: str, row: asyncpg.Record,
                             paid_on: date, owed_after_cents: int) -> bool:
    """Whether a payment made on `paid_on`, leaving `owed_after_cents`, reinstates the
    coverage the terminated delinquency `row` ended."""
    return reinstates(paid_on, await _noticed_on(conn, ban, row), owed_after_cents)
