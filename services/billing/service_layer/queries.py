"""Read models for the gateway: account summary, invoices, ledger, statements, plans.

Each takes the business date it answers for (`today`): the entrypoint reads it from the
service's clock."""
from __future__ import annotations

from datetime import date

import asyncpg

from services.billing.adapters import repository as repo
from services.billing.domain.coverage import ENDED, BilledMonth, standing
from services.billing.domain.rules import (
    PLAN_MONTHS_MAX,
    PLAN_MONTHS_MIN,
    BillingError,
    Grace,
    add_months,
    first_of_month,
    plan_first_due,
    plan_progress,
    plan_refusal,
    plan_schedule,
)
from services.billing.service_layer.errors import UnknownAccount
from services.billing.service_layer.reinstatement import account_quote


async def account_summary(conn: asyncpg.Connection, ban: str, today: date) -> dict | None:
    acct = await repo.summary_head(conn, ban, today)
    if acct is None:
        return None
    lines = [repo.line_view(today, *row) for row in acct["line_rows"]]
    credit = acct["credit_cents"]
    total = sum(ln["balance_cents"] for ln in lines) - credit
    delinquency = await repo.delinquency(conn, ban) if acct["has_delinquency"] else None
    if delinquency is not None and delinquency["status"] in ("resolved", "reinstated"):
        delinquency = None
    reinstatement = await account_quote(conn, ban, delinquency, total, acct["plan_type"], today)
    plan = await plan_view(conn, await repo.active_plan(conn, ban), today) if acct["has_plan"] else None
    past_due_cents = acct["past_due_cents"]
    grace = (Grace(delinquency["grace_start"], delinquency["grace_end"], delinquency["grace_months"])
             if delinquency is not None and delinquency["status"] == "in_grace" else None)
    installment = next((i for i in plan["schedule"] if i["status"] == "due"), None) \
        if plan and plan["suspends_delinquency"] else None
    line_states = [{"coverage_year": row[0], "status": row[4], "coverage_start": row[5]}
                   for row in acct["line_rows"]]  # the lines' own states, as coverage.standing reads them
    billed = [BilledMonth(*month) for month in acct["billed"]]
    clock_ = standing(billed, line_states, acct["aptc"], total, today,
                      grace, date.fromisoformat(installment["due_date"]) if installment else None,
                      _installment_left(plan, installment))
    refusal = plan_refusal(past_due_cents, plan is not None,
                           bool(line_states) and all(ln["status"] in ENDED for ln in line_states))
    return {
        "billing_account_number": ban, "household_id": acct["household_id"],
        "plan_type": acct["plan_type"], "aptc": acct["aptc"], "status": clock_.status,
        "total_balance_cents": total, "credit_cents": max(credit, 0),
        "pending_payments_cents": acct["pending_payments_cents"],
        "lines": lines,
        "coverage": clock_.as_dict(),
        "delinquency": None if delinquency is None else {
            "stage": delinquency["status"], "grace_start": delinquency["grace_start"].isoformat(),
            "grace_end": delinquency["grace_end"].isoformat(),
            "grace_months": delinquency["grace_months"],
            "terminated_on": delinquency["terminated_on"].isoformat()
            if delinquency["terminated_on"] else None,
            "past_due_cents": past_due_cents},
        "payment_plan": plan,
        "reinstatement": reinstatement.as_dict() if reinstatement else None,
        "payment_plan_offer": {"eligible": refusal is None, "reason": refusal,
                               "past_due_cents": past_due_cents, "months_min": PLAN_MONTHS_MIN,
                               "months_max": PLAN_MONTHS_MAX,
                               "first_due_date": plan_first_due(today).isoformat()},
    }


def _installment_left(plan: dict | None, installment: dict | None) -> int:
    """What is still to pay on the installment due next (payments count in order)."""
    if plan is None or installment is None:
        return 0
    through = sum(i["amount_cents"] for i in plan["schedule"] if i["number"] <= installment["number"])
    return max(through - plan["paid_cents"], 0)


async def plan_view(conn: asyncpg.Connection, plan: asyncpg.Record | None,
                    today: date) -> dict | None:
    """A hardship plan with each installment's status and what has been paid towards it.
    An active plan's status is `current`, `completed` or `broken` as of today (the daily
    delinquency job records the change); a closed plan keeps its recorded status."""
    if plan is None:
        return None
    progress = plan_progress(plan["schedule"], await repo.paid_since(
        conn, plan["billing_account_number"], plan["created_on"]), today)
    return {"plan_id": str(plan["plan_id"]),
            "status": progress.status if plan["status"] == "active" else plan["status"],
            "months": plan["months"], "total_cents": plan["total_cents"],
            "paid_cents": min(progress.paid_cents, plan["total_cents"]),
            "created_on": plan["created_on"].isoformat(), "schedule": progress.installments,
            "suspends_delinquency": plan["status"] == "active" and progress.status == "current"}


async def invoices(conn: asyncpg.Connection, ban: str) -> list[dict]:
    rows = await repo.invoice_rows(conn, ban)
    return [{"invoice_id": str(r["invoice_id"]), "kind": r["kind"],
             "coverage_year": r["coverage_year"], "coverage_month": r["coverage_month"].strftime("%Y-%m"),
             "amount_cents": r["amount_cents"], "paid_cents": r["paid_cents"],
             "due_date": r["due_date"].isoformat(), "issued_on": r["issued_on"].isoformat(),
             "status": "void" if r["voided"] else "paid" if r["paid_cents"] == r["amount_cents"] else
                       ("partly_paid" if r["paid_cents"] else "open")} for r in rows]


async def ledger(conn: asyncpg.Connection, ban: str, limit: int = 500) -> list[dict]:
    rows = await repo.ledger_rows(conn, ban, limit)
    return [{"entry_id": r["entry_id"], "kind": r["kind"], "amount_cents": r["amount_cents"],
             "coverage_year": r["coverage_year"],
             "coverage_month": r["coverage_month"].strftime("%Y-%m") if r["coverage_month"] else None,
             "payment_id": r["payment_id"], "business_date": r["business_date"].isoformat(),
             "created_at": r["created_at"].isoformat()} for r in rows]


async def statement(conn: asyncpg.Connection, ban: str, month: date, today: date) -> dict | None:
    """What was billed and paid during a calendar month, and the balance at its end."""
    summary = await account_summary(conn, ban, today)
    if summary is None:
        return None
    start, end = first_of_month(month), add_months(first_of_month(month), 1)
    rows = await repo.ledger_between(conn, ban, start, end)
    opening = await repo.balance_before(conn, ban, start)
    entries = [{"date": r["business_date"].isoformat(), "kind": r["kind"],
                "coverage_month": r["coverage_month"].strftime("%Y-%m") if r["coverage_month"] else "",
                "amount_cents": r["amount_cents"]} for r in rows]
    return {"account": summary, "month": start.strftime("%Y-%m"), "opening_cents": opening,
            "entries": entries, "closing_cents": opening + sum(e["amount_cents"] for e in entries)}


PLAN_REFUSALS = {
    "coverage_ended": "This coverage has ended, so a payment plan cannot be made.",
    "plan_exists": "This account already has an active payment plan.",
    "nothing_past_due": "Nothing is past due, so no payment plan is needed.",
}


async def create_payment_plan(conn: asyncpg.Connection, ban: str, months: int,
                              today: date) -> dict:
    """Spread what is past due over `months` monthly installments (hardship plan)."""
    if await repo.account(conn, ban, lock=True) is None:
        raise UnknownAccount()
    if not PLAN_MONTHS_MIN <= months <= PLAN_MONTHS_MAX:
        raise BillingError(f"A payment plan lasts from {PLAN_MONTHS_MIN} to {PLAN_MONTHS_MAX} months.")
    cents, _ = await repo.past_due(conn, ban, today)
    states = await repo.line_states(conn, ban)
    refusal = plan_refusal(cents, await repo.active_plan(conn, ban) is not None,
                           bool(states) and all(ln["status"] in ENDED for ln in states))
    if refusal:
        raise BillingError(PLAN_REFUSALS[refusal], refusal)
    schedule = plan_schedule(cents, months, plan_first_due(today))
    row = await repo.insert_payment_plan(conn, ban, cents, months, today, schedule)
    return await plan_view(conn, row, today)
