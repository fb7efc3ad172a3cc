"""The service's projection of billing (billing.v1): what each account owes, per line, so
autopay and amount checks need no call to billing."""
from __future__ import annotations

import asyncpg

from services.payments.adapters import repository as repo
from shared.consumer import Handler
from shared.contracts import billing
from shared.contracts.envelope import Event


async def on_account_opened(conn: asyncpg.Connection, e: Event[billing.AccountOpenedData]) -> None:
    d = e.data
    await repo.account_opened(conn, d.billing_account_number, d.plan_type, d.household_id,
                              list(d.coverage_years))


async def on_balance_changed(conn: asyncpg.Connection, e: Event[billing.BalanceChangedData]) -> None:
    d = e.data
    lines = [{"coverage_year": x.coverage_year, "balance_cents": x.balance_cents,
              "current_premium_cents": x.current_premium_cents, "due_date": x.due_date,
              "binder": x.binder}
             for x in d.lines]
    await repo.balance_changed(conn, d.billing_account_number, d.plan_type,
                               d.total_balance_cents, lines, e.occurred_at)


HANDLERS: dict[str, Handler] = {billing.ACCOUNT_OPENED: on_account_opened,
                                billing.BALANCE_CHANGED: on_balance_changed}


async def owed(conn: asyncpg.Connection, ban: str) -> dict | None:
    row = await repo.get_owed(conn, ban)
    if row is None:
        return None
    return {"billing_account_number": ban, "plan_type": row["plan_type"],
            "total_balance_cents": row["total_balance_cents"], "lines": row["lines"],
            "as_of": row["balance_as_of"].isoformat() if row["balance_as_of"] else None}
