"""The SQL of a batch of payment events (service_layer/payment_batch.py): each statement
covers every account of the batch, so a consumed batch of a thousand settlements costs
about ten round trips to PostgreSQL instead of a dozen per payment. The statements mean
what repository.py's one-account statements mean; only the number of accounts differs."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import asyncpg
import orjson

from services.billing.domain.rules import OpenInvoice

# The payments columns a batch may set (flag -> its PostgreSQL type).
_PAYMENT_FLAGS = {"submitted": "boolean", "settled": "boolean", "credited": "boolean",
                  "submitted_on": "date", "settled_on": "date"}


async def lock_accounts(conn: asyncpg.Connection, bans: Sequence[str]) -> dict[str, asyncpg.Record]:
    """The accounts among `bans`, locked as `repository.account(lock=True)` locks one, each
    with its plan type and whether a delinquency is open on it (a grace period running or
    a termination a payment may reverse). Locked in account order, so two transactions
    locking overlapping batches wait for each other instead of deadlocking."""
    rows = await conn.fetch(
        """SELECT a.billing_account_number AS ban, a.plan_type,
                  EXISTS (SELECT 1 FROM delinquencies d
                          WHERE d.billing_account_number = a.billing_account_number
                            AND d.status IN ('in_grace', 'terminated')) AS delinquent
           FROM accounts a WHERE a.billing_account_number = ANY($1::text[])
           ORDER BY a.billing_account_number FOR UPDATE OF a""", list(bans))
    return {r["ban"]: r for r in rows}


async def payments_done(conn: asyncpg.Connection, payment_ids: Sequence[str]) -> set[str]:
    """The payments among `payment_ids` already settled or returned; every one of them that
    exists is locked, as `repository.payment` locks one."""
    rows = await conn.fetch(
        """SELECT payment_id, settled OR returned AS done FROM payments
           WHERE payment_id = ANY($1::text[]) ORDER BY payment_id FOR UPDATE""", list(payment_ids))
    return {r["payment_id"] for r in rows if r["done"]}


async def open_invoices(conn: asyncpg.Connection,
                        bans: Sequence[str]) -> dict[str, list[OpenInvoice]]:
    """Each account's open invoices, locked, oldest month first (`repository.open_invoices`
    for many accounts)."""
    rows = await conn.fetch(
        """SELECT billing_account_number AS ban, invoice_id, coverage_year, coverage_month,
                  amount_cents - paid_cents AS owed
           FROM invoices WHERE billing_account_number = ANY($1::text[])
             AND paid_cents < amount_cents
           ORDER BY billing_account_number, coverage_month, coverage_year FOR UPDATE""",
        list(bans))
    out: dict[str, list[OpenInvoice]] = {}
    for r in rows:
        out.setdefault(r["ban"], []).append(
            OpenInvoice(r["invoice_id"], r["coverage_year"], r["coverage_month"], r["owed"]))
    return out


async def upsert_payments(conn: asyncpg.Connection, rows: Sequence[tuple[str, str, int, list]],
                          **flags: Sequence[Any]) -> None:
    """`repository.upsert_payment` for many payments in one statement: `rows` are
    (payment_id, billing_account_number, amount_cents, allocations), each flag a column
    of values, one per row. The payment ids must differ (one statement cannot change a
    row twice)."""
    assert set(flags) <= set(_PAYMENT_FLAGS), flags
    assert all(len(values) == len(rows) for values in flags.values())
    if not rows:
        return
    names = list(flags)
    arrays = "".join(f", ${i}::{_PAYMENT_FLAGS[k]}[]" for i, k in enumerate(names, start=5))
    columns = "".join(f", f{i}" for i in range(len(names)))
    sets = "".join(f", {k} = EXCLUDED.{k}" for k in names)
    ids, bans, amounts, allocations = (list(c) for c in zip(*rows))
    # The allocations go as JSON text: asyncpg would take a list of lists for a
    # two-dimensional array, not for an array of jsonb values.
    await conn.execute(
        f"""INSERT INTO payments (payment_id, billing_account_number, amount_cents, allocations
                                  {"".join(", " + k for k in names)})
            SELECT p, b, a, j::jsonb {columns}
            FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[] {arrays})
              AS u(p, b, a, j {columns})
            ON CONFLICT (payment_id) DO UPDATE SET updated_at = now() {sets}""",
        ids, bans, amounts, [orjson.dumps(a).decode() for a in allocations],
        *(list(flags[k]) for k in names))


async def add_entries(conn: asyncpg.Connection, entries: Sequence[tuple]) -> None:
    """Ledger entries of many accounts in one statement, booked in the order given:
    (billing_account_number, coverage_year, coverage_month, invoice_id, payment_id, kind,
    amount_cents, business_date), the coverage columns None for an entry on no invoice."""
    if not entries:
        return
    await conn.execute(
        """INSERT INTO ledger (billing_account_number, coverage_year, coverage_month, invoice_id,
                               payment_id, kind, amount_cents, business_date)
           SELECT ban, y, m, i, p, k, a, d
           FROM unnest($1::text[], $2::int[], $3::date[], $4::uuid[], $5::text[], $6::text[],
                       $7::bigint[], $8::date[]) WITH ORDINALITY AS e(ban, y, m, i, p, k, a, d, n)
           ORDER BY n""",
        *(list(c) for c in zip(*entries)))


async def add_paid(conn: asyncpg.Connection, paid: Sequence[tuple[Any, int]]) -> None:
    """The paid cache of many invoices: (invoice_id, cents) added to each (an invoice named
    twice gets both)."""
    if not paid:
        return
    ids, cents = (list(c) for c in zip(*paid))
    await conn.execute(
        """UPDATE invoices i SET paid_cents = i.paid_cents + u.cents
           FROM (SELECT id, sum(c)::bigint AS cents FROM unnest($1::uuid[], $2::bigint[]) AS p(id, c)
                 GROUP BY id) u
           WHERE i.invoice_id = u.id""", ids, cents)


async def balances(conn: asyncpg.Connection, bans: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Each account's (balance, credit): every ledger entry summed (`repository.total_balance`)
    and the unallocated money it holds (`repository.credit_cents`); (0, 0) for an account
    with no entries."""
    rows = await conn.fetch(
        """SELECT billing_account_number AS ban, sum(amount_cents)::bigint AS total,
                  -coalesce(sum(amount_cents) FILTER (WHERE coverage_year IS NULL), 0)::bigint
                    AS credit
           FROM ledger WHERE billing_account_number = ANY($1::text[]) GROUP BY 1""", list(bans))
    out = {ban: (0, 0) for ban in bans}
    out.update({r["ban"]: (r["total"], r["credit"]) for r in rows})
    return out


def entry(ban: str, kind: str, amount_cents: int, day: date, payment_id: str | None, *,
          year: int | None = None, month: date | None = None, invoice_id: object = None) -> tuple:
    """One row for `add_entries`."""
    return (ban, year, month, invoice_id, payment_id, kind, amount_cents, day)
