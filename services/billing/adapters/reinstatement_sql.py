"""SQL for reinstatement after a termination for non-payment: when the termination was
noticed, which lines it ended, which months are billed (domain/reinstatement.py decides)."""
from __future__ import annotations

from datetime import date

import asyncpg


async def termination_noticed_on(conn: asyncpg.Connection, ban: str,
                                 grace_start: date) -> date | None:
    """The business date the termination notice of this grace period was recorded (the
    delinquency job records `grace_ended` in the transaction that terminates)."""
    return await conn.fetchval(
        """SELECT sent_on FROM delinquency_notices WHERE billing_account_number = $1
             AND grace_start = $2 AND stage = 'grace_ended'""", ban, grace_start)


async def terminated_lines(conn: asyncpg.Connection, ban: str, terminated_on: date) -> list[dict]:
    """The lines a termination for non-payment ended (those a reinstatement restores)."""
    rows = await conn.fetch(
        """SELECT enrollment_id, coverage_year, coverage_start, premium_cents FROM lines
           WHERE billing_account_number = $1 AND status = 'terminated' AND terminated_on = $2
           ORDER BY coverage_year""", ban, terminated_on)
    return [dict(r) for r in rows]


async def billed(conn: asyncpg.Connection, ban: str) -> set[tuple[int, date]]:
    """Every (coverage year, coverage month) billed to the account."""
    rows = await conn.fetch("""SELECT coverage_year, coverage_month FROM invoices
                               WHERE billing_account_number = $1""", ban)
    return {(r["coverage_year"], r["coverage_month"]) for r in rows}
