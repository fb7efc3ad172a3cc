"""The invoice cycle's SQL: set-based statements over one keyset-paginated range of
accounts at a time. PostgreSQL does the per-invoice work (invoice rows, ledger entries,
event envelopes for the outbox, generated from the contract models' fields); Python only
walks the ranges, so memory stays flat."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import asyncpg
from pydantic import BaseModel

from shared.contracts.billing import BalanceChangedData, BalanceLine, InvoiceIssuedData
from shared.contracts.envelope import Envelope


async def account_count(conn: asyncpg.Connection | asyncpg.Pool) -> int:
    """How many accounts there are (the cycle's progress reports against it)."""
    return await conn.fetchval("SELECT count(*) FROM accounts")


async def accounts_in_range(conn: asyncpg.Connection, lo: str, hi: str) -> int:
    """How many accounts have a number after `lo` up to and including `hi`."""
    return await conn.fetchval(
        """SELECT count(*) FROM accounts WHERE billing_account_number > $1
           AND billing_account_number <= $2""", lo, hi)


async def range_end(conn: asyncpg.Connection, after: str, size: int) -> str | None:
    """The last account number of the next chunk of `size` accounts after `after`."""
    return await conn.fetchval(
        """SELECT max(billing_account_number) FROM (SELECT billing_account_number FROM accounts
           WHERE billing_account_number > $1 ORDER BY billing_account_number LIMIT $2) c""",
        after, size)


async def take_premium_changes(conn: asyncpg.Connection, lo: str, hi: str, year: int) -> None:
    """Premium changes received since the last cycle take effect in this one."""
    await conn.execute(
        """UPDATE lines SET premium_cents = next_premium_cents, next_premium_cents = NULL
           WHERE billing_account_number > $1 AND billing_account_number <= $2
             AND coverage_year = $3 AND next_premium_cents IS NOT NULL""", lo, hi, year)


async def bill_range(conn: asyncpg.Connection, lo: str, hi: str, month: date, due: date,
                     day: date) -> list[asyncpg.Record]:
    """Invoice `month` for every line in force in the range, with its ledger entry, in one
    statement; a month already billed is skipped (the cycle is idempotent per account and
    month). Returns (invoice_id, billing_account_number) of the invoices issued now."""
    return await conn.fetch(
        """WITH ins AS (
             INSERT INTO invoices (invoice_id, billing_account_number, coverage_year,
                                   coverage_month, kind, amount_cents, due_date, issued_on)
             SELECT gen_random_uuid(), l.billing_account_number, l.coverage_year, $3, 'monthly',
                    l.premium_cents, $4, $5
             FROM lines l
             WHERE l.billing_account_number > $1 AND l.billing_account_number <= $2
               AND l.coverage_year = $6 AND l.coverage_start <= $3
               AND l.status IN ('active', 'pending_binder')
               AND (l.terminated_on IS NULL OR l.terminated_on >= $3)
             ON CONFLICT DO NOTHING
             RETURNING invoice_id, billing_account_number, coverage_year, coverage_month, amount_cents),
           led AS (
             INSERT INTO ledger (billing_account_number, coverage_year, coverage_month, invoice_id,
                                 kind, amount_cents, business_date)
             SELECT billing_account_number, coverage_year, coverage_month, invoice_id, 'invoice',
                    amount_cents, $5 FROM ins)
           SELECT invoice_id, billing_account_number FROM ins""",
        lo, hi, month, due, day, month.year)


async def holding_credit(conn: asyncpg.Connection, bans: list[str]) -> set[str]:
    """The accounts among `bans` that hold unallocated credit."""
    rows = await conn.fetch(
        """SELECT billing_account_number FROM ledger
           WHERE billing_account_number = ANY($1::text[]) AND coverage_year IS NULL
           GROUP BY 1 HAVING sum(amount_cents) < 0""", bans)
    return {r[0] for r in rows}


async def invoices_by_id(conn: asyncpg.Connection, ids: list) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM invoices WHERE invoice_id = ANY($1::uuid[])", ids)


def _json_object(model: type[BaseModel], columns: Mapping[str, str]) -> str:
    """`json_build_object(...)` over SQL expressions for exactly `model`'s fields, in its
    order: the SQL-built payload cannot drop, add or misname a field of the contract (a
    field added to the model without its column fails here, when the module loads)."""
    assert list(columns) == list(model.model_fields), f"{model.__name__}: {list(columns)}"
    return "json_build_object(" + ", ".join(f"'{k}', {v}" for k, v in columns.items()) + ")"


# A version 7 UUID, as `shared.contracts.envelope.uuid7` makes them (48 bits of Unix time in
# milliseconds, then random bits): a random (version 4) UUID whose first 6 bytes are
# replaced by the time, and whose version nibble is set from 4 (0100) to 7 (0111).
UUID7_SQL = """encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) PLACING
    substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
    FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid"""

_INVOICE_ISSUED = _json_object(InvoiceIssuedData, {
    "billing_account_number": "inv.billing_account_number", "invoice_id": "inv.invoice_id",
    "kind": "inv.kind", "coverage_year": "inv.coverage_year",
    "coverage_month": "to_char(inv.coverage_month, 'YYYY-MM')",
    "amount_cents": "inv.amount_cents", "due_date": "inv.due_date",
    "total_balance_cents": "acct.total"})
_BALANCE_LINE = _json_object(BalanceLine, {
    "coverage_year": "lb.coverage_year", "balance_cents": "lb.balance",
    "current_premium_cents": "lb.premium", "due_date": "lb.due",
    "binder": "(lb.status = 'pending_binder' AND lb.balance > 0)"})
_BALANCE_CHANGED = _json_object(BalanceChangedData, {
    "billing_account_number": "ban", "plan_type": "plan_type", "total_balance_cents": "total",
    "lines": "lines", "reason": "'invoice_issued'"})
_ENVELOPE = _json_object(Envelope, {
    "event_id": "event_id", "event_type": "event_type", "event_version": "event_version",
    "occurred_at": "$3::text", "producer": "$4::text",
    "correlation_id": "gen_random_uuid()::text", "causation_id": "NULL", "key": "ban",
    "data": "data"})

_CYCLE_EVENTS = f"""
    WITH inv AS (SELECT * FROM invoices WHERE invoice_id = ANY($1::uuid[])),
    bans AS (SELECT DISTINCT billing_account_number AS ban FROM inv),
    lb AS (
      SELECT l.billing_account_number AS ban, l.coverage_year, l.status, g.balance,
             coalesce(iv.last_amount, l.premium_cents) AS premium,
             coalesce(iv.open_due, iv.last_due) AS due
      FROM bans b JOIN lines l ON l.billing_account_number = b.ban
      CROSS JOIN LATERAL (
        SELECT coalesce(sum(amount_cents), 0)::bigint AS balance FROM ledger g
        WHERE g.billing_account_number = l.billing_account_number
          AND g.coverage_year = l.coverage_year) g
      CROSS JOIN LATERAL (
        SELECT min(due_date) FILTER (WHERE paid_cents < amount_cents) AS open_due,
               max(due_date) AS last_due,
               (array_agg(amount_cents ORDER BY coverage_month DESC))[1] AS last_amount
        FROM invoices i WHERE i.billing_account_number = l.billing_account_number
          AND i.coverage_year = l.coverage_year) iv),
    acct AS (
      SELECT lb.ban, a.plan_type, sum(lb.balance)::bigint AS total,
             json_agg({_BALANCE_LINE} ORDER BY lb.coverage_year) AS lines
      FROM lb JOIN accounts a ON a.billing_account_number = lb.ban
      GROUP BY lb.ban, a.plan_type),
    ev AS (
      SELECT inv.billing_account_number AS ban, 1 AS ord, inv.coverage_month AS month,
             '{InvoiceIssuedData.EVENT_TYPE}' AS event_type,
             {InvoiceIssuedData.EVENT_VERSION} AS event_version, {_INVOICE_ISSUED} AS data
      FROM inv JOIN acct ON acct.ban = inv.billing_account_number
      UNION ALL
      SELECT ban, 2, NULL, '{BalanceChangedData.EVENT_TYPE}', {BalanceChangedData.EVENT_VERSION},
             {_BALANCE_CHANGED}
      FROM acct),
    ids AS (SELECT ev.*, {UUID7_SQL} AS event_id FROM ev)
    INSERT INTO outbox (event_id, topic, key, event_type, event_version, payload)
    SELECT event_id, $2, ban, event_type, event_version, convert_to({_ENVELOPE}::text, 'UTF8')
    FROM ids ORDER BY ban, ord, month"""


async def enqueue_cycle_events(conn: asyncpg.Connection, invoice_ids: list, topic: str,
                               occurred_at: str, producer: str) -> int:
    """`invoice.issued` for each invoice and one `balance.changed` per account (its lines as
    docs/events.md shapes them), built and written to the outbox by one INSERT ... SELECT,
    in key order with each account's invoices before its balance. For accounts holding no
    credit (the total is the sum of the lines). Returns how many rows were written.

    The envelopes are those `Envelope.of` builds from the same models (`_json_object` keeps
    the SQL to the models' fields): UUIDv7 event ids, `occurred_at` as envelopes write it
    (`wire_time`), a fresh correlation id per event. Building them in PostgreSQL keeps the
    cycle set-based: no row comes back to Python."""
    status = await conn.execute(_CYCLE_EVENTS, invoice_ids, topic, occurred_at, producer)
    return int(status.split()[-1])
