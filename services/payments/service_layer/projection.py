"""The service's projection of billing (billing.v1): what each account owes, per line, so
autopay and amount checks need no call to billing."""
from __future__ import annotations

import asyncpg

from services.payments.adapters import repository as repo
from shared.contracts.envelope import Envelope


async def on_account_opened(conn: asyncpg.Connection, e: Envelope) -> None:
    d = e.data
    await repo.account_opened(conn, d["billing_account_number"], d["plan_type"],
                              d.get("household_id"), [int(y) for y in d.get("coverage_years") or []])


async def on_balance_changed(conn: asyncpg.Connection, e: Envelope) -> None:
    d = e.data
    lines = [{"coverage_year": int(x["coverage_year"]), "balance_cents": int(x["balance_cents"]),
              "current_premium_cents": int(x.get("current_premium_cents") or 0),
              "due_date": x.get("due_date")} for x in d.get("lines") or []]
    await repo.balance_changed(conn, d["billing_account_number"], d.get("plan_type") or "health",
                               int(d["total_balance_cents"]), lines, e.occurred_at)


HANDLERS = {"account.opened": on_account_opened, "balance.changed": on_balance_changed}


async def owed(conn: asyncpg.Connection, ban: str) -> dict | None:
    row = await repo.get_owed(conn, ban)
    if row is None:
        return None
    return {"billing_account_number": ban, "plan_type": row["plan_type"],
            "total_balance_cents": row["total_balance_cents"], "lines": row["lines"],
            "as_of": row["balance_as_of"].isoformat() if row["balance_as_of"] else None}
