"""All of billing's SQL. Balances are always derived from the ledger; `invoices.paid_cents`
is a cache of the ledger entries on each invoice, proven equal by `reconcile`."""
from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

import asyncpg

from services.billing.domain.numbers import make_ban
from services.billing.domain.rules import Application, OpenInvoice
from shared.contracts.enrollment import EnrollmentData


async def account_by_household(conn: asyncpg.Connection, household_id: str,
                               plan_type: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM accounts WHERE household_id = $1 AND plan_type = $2 FOR UPDATE",
        household_id, plan_type)


async def open_account(conn: asyncpg.Connection, household_id: str, plan_type: str,
                       aptc: bool) -> str:
    ban = make_ban(await conn.fetchval("SELECT nextval('ban_seq')"))
    await conn.execute("""INSERT INTO accounts (billing_account_number, household_id, plan_type, aptc)
                          VALUES ($1, $2, $3, $4)""", ban, household_id, plan_type, aptc)
    return ban


async def account(conn: asyncpg.Connection, ban: str, lock: bool = False) -> asyncpg.Record | None:
    sql = "SELECT * FROM accounts WHERE billing_account_number = $1"
    return await conn.fetchrow(sql + (" FOR UPDATE" if lock else ""), ban)


async def accounts_of_household(conn: asyncpg.Connection, household_id: str) -> list[str]:
    rows = await conn.fetch("""SELECT billing_account_number FROM accounts WHERE household_id = $1
                               ORDER BY plan_type""", household_id)
    return [r[0] for r in rows]


async def line(conn: asyncpg.Connection, ban: str, year: int) -> asyncpg.Record | None:
    return await conn.fetchrow("""SELECT * FROM lines WHERE billing_account_number = $1
                                  AND coverage_year = $2""", ban, year)


async def line_by_enrollment(conn: asyncpg.Connection, enrollment_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM lines WHERE enrollment_id = $1", enrollment_id)


async def lines(conn: asyncpg.Connection, ban: str) -> list[asyncpg.Record]:
    return await conn.fetch("""SELECT * FROM lines WHERE billing_account_number = $1
                               ORDER BY coverage_year""", ban)


async def insert_line(conn: asyncpg.Connection, ban: str, d: EnrollmentData, status: str) -> None:
    await conn.execute(
        """INSERT INTO lines (billing_account_number, coverage_year, enrollment_id, plan_name,
                              carrier, premium_cents, coverage_start, status)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
        ban, d.coverage_year, d.enrollment_id, d.plan_name, d.carrier, d.premium_cents,
        d.coverage_start, status)


async def set_line_status(conn: asyncpg.Connection, ban: str, year: int, status: str,
                          terminated_on: date | None = None) -> None:
    await conn.execute("""UPDATE lines SET status = $3, terminated_on = coalesce($4, terminated_on)
                          WHERE billing_account_number = $1 AND coverage_year = $2""",
                       ban, year, status, terminated_on)


async def insert_invoice(conn: asyncpg.Connection, ban: str, year: int, month: date, kind: str,
                         amount_cents: int, due: date, issued_on: date) -> asyncpg.Record | None:
    """The invoice and its ledger entry; None when that month was already billed."""
    row = await conn.fetchrow(
        """INSERT INTO invoices (invoice_id, billing_account_number, coverage_year,
                                 coverage_month, kind, amount_cents, due_date, issued_on)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING *""",
        uuid.uuid4(), ban, year, month, kind, amount_cents, due, issued_on)
    if row is not None:
        await conn.execute(
            """INSERT INTO ledger (billing_account_number, coverage_year, coverage_month,
                                   invoice_id, kind, amount_cents, business_date)
               VALUES ($1, $2, $3, $4, 'invoice', $5, $6)""", ban, year, month, row["invoice_id"],
            amount_cents, issued_on)
    return row


async def open_invoices(conn: asyncpg.Connection, ban: str) -> list[OpenInvoice]:
    rows = await conn.fetch(
        """SELECT invoice_id, coverage_year, coverage_month, amount_cents - paid_cents AS owed
           FROM invoices WHERE billing_account_number = $1 AND paid_cents < amount_cents
           ORDER BY coverage_month, coverage_year FOR UPDATE""", ban)
    return [OpenInvoice(r["invoice_id"], r["coverage_year"], r["coverage_month"], r["owed"])
            for r in rows]


async def record_applications(conn: asyncpg.Connection, ban: str, payment_id: str | None,
                              apps: Sequence[Application], day: date,
                              kind: str = "payment") -> None:
    """Entries (negative: paid) on each invoice and the paid cache that mirrors them."""
    if not apps:
        return
    await conn.executemany(
        """INSERT INTO ledger (billing_account_number, coverage_year, coverage_month, invoice_id,
                               payment_id, kind, amount_cents, business_date)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
        [(ban, a.coverage_year, a.coverage_month, a.invoice_id, payment_id, kind, -a.amount_cents,
          day) for a in apps])
    await conn.executemany("UPDATE invoices SET paid_cents = paid_cents + $2 WHERE invoice_id = $1",
                           [(a.invoice_id, a.amount_cents) for a in apps])


async def add_entry(conn: asyncpg.Connection, ban: str, kind: str, amount_cents: int, day: date,
                    payment_id: str | None = None) -> None:
    """An entry with no coverage year (credit kept or consumed)."""
    await conn.execute("""INSERT INTO ledger (billing_account_number, kind, amount_cents, payment_id,
                                               business_date)
                          VALUES ($1, $2, $3, $4, $5)""", ban, kind, amount_cents, payment_id, day)


async def summary_head(conn: asyncpg.Connection, ban: str, today: date) -> asyncpg.Record | None:
    """The account row with everything its summary needs in the usual case, in one round
    trip (the summary the gateway asks for on every page; the rarer delinquency and plan
    rows are read only when they exist): credit, pending payments, whether a delinquency or
    an active payment plan exists, cents past due on `today` (as `past_due`), the lines
    (`line_rows`: by year, the fields `line_view` takes after `today`) and the months billed
    (`billed`: (coverage_month, due_date, owed, kind) of each invoice not voided, by month:
    what coverage.standing takes as BilledMonth)."""
    return await conn.fetchrow(
        """SELECT a.*,
                  -(SELECT coalesce(sum(amount_cents), 0) FROM ledger
                    WHERE billing_account_number = $1 AND coverage_year IS NULL)::bigint AS credit_cents,
                  (SELECT coalesce(sum(amount_cents), 0) FROM payments
                   WHERE billing_account_number = $1 AND submitted AND NOT settled
                     AND NOT returned AND NOT failed)::bigint AS pending_payments_cents,
                  EXISTS (SELECT 1 FROM delinquencies WHERE billing_account_number = $1) AS has_delinquency,
                  EXISTS (SELECT 1 FROM payment_plans WHERE billing_account_number = $1
                          AND status = 'active') AS has_plan,
                  (SELECT coalesce(sum(amount_cents - paid_cents), 0) FROM invoices
                   WHERE billing_account_number = $1 AND paid_cents < amount_cents
                     AND due_date < $2)::bigint AS past_due_cents,
                  ARRAY(SELECT ROW(l.coverage_year, l.plan_name, l.carrier, l.premium_cents, l.status,
                                   l.coverage_start, l.terminated_on, coalesce(g.balance, 0)::bigint,
                                   iv.open_due, iv.last_due, iv.last_invoice)
                        FROM lines l
                        LEFT JOIN LATERAL (
                          SELECT sum(amount_cents)::bigint AS balance FROM ledger
                          WHERE billing_account_number = $1 AND coverage_year = l.coverage_year) g ON true
                        LEFT JOIN LATERAL (
                          SELECT min(due_date) FILTER (WHERE paid_cents < amount_cents) AS open_due,
                                 max(due_date) AS last_due,
                                 (array_agg(amount_cents ORDER BY coverage_month DESC))[1] AS last_invoice
                          FROM invoices
                          WHERE billing_account_number = $1 AND coverage_year = l.coverage_year) iv ON true
                        WHERE l.billing_account_number = $1 ORDER BY l.coverage_year) AS line_rows,
                  ARRAY(SELECT ROW(coverage_month, due_date, amount_cents - paid_cents, kind) FROM invoices
                        WHERE billing_account_number = $1 AND NOT voided
                        ORDER BY coverage_month, coverage_year) AS billed
           FROM accounts a WHERE a.billing_account_number = $1""", ban, today)


async def credit_cents(conn: asyncpg.Connection, ban: str) -> int:
    """Unallocated money held for the member (entries with no coverage year, sign flipped)."""
    return -await conn.fetchval("""SELECT coalesce(sum(amount_cents), 0)::bigint FROM ledger
                                   WHERE billing_account_number = $1 AND coverage_year IS NULL""", ban)


async def reverse_payment(conn: asyncpg.Connection, ban: str, payment_id: str, day: date) -> int:
    """Mirror every entry of a payment (reversal entries) and undo its paid cache; returns
    the amount reversed."""
    entries = await conn.fetch(
        """SELECT coverage_year, coverage_month, invoice_id, amount_cents FROM ledger
           WHERE payment_id = $1 AND kind IN ('payment', 'credit')""", payment_id)
    await conn.executemany(
        """INSERT INTO ledger (billing_account_number, coverage_year, coverage_month, invoice_id,
                               payment_id, kind, amount_cents, business_date)
           VALUES ($1, $2, $3, $4, $5, 'reversal', $6, $7)""",
        [(ban, e["coverage_year"], e["coverage_month"], e["invoice_id"], payment_id,
          -e["amount_cents"], day) for e in entries])
    await conn.executemany("UPDATE invoices SET paid_cents = paid_cents + $2 WHERE invoice_id = $1",
                           [(e["invoice_id"], e["amount_cents"]) for e in entries if e["invoice_id"]])
    return -sum(e["amount_cents"] for e in entries)


async def payment(conn: asyncpg.Connection, payment_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM payments WHERE payment_id = $1 FOR UPDATE", payment_id)


async def upsert_payment(conn: asyncpg.Connection, payment_id: str, ban: str, amount_cents: int,
                         allocations: list, **flags: Any) -> asyncpg.Record:
    cols = ", ".join(flags)
    sets = ", ".join(f"{k} = EXCLUDED.{k}" for k in flags)
    values = ", ".join(f"${i}" for i in range(5, 5 + len(flags)))
    return await conn.fetchrow(
        f"""INSERT INTO payments (payment_id, billing_account_number, amount_cents, allocations
                                  {', ' + cols if cols else ''})
            VALUES ($1, $2, $3, $4 {', ' + values if values else ''})
            ON CONFLICT (payment_id) DO UPDATE SET updated_at = now() {', ' + sets if sets else ''}
            RETURNING *""", payment_id, ban, amount_cents, allocations, *flags.values())


async def snapshots(conn: asyncpg.Connection, bans: Iterable[str], today: date) -> dict[str, dict]:
    """Each account's lines with balance, current premium, due date and status, in one
    round trip for many accounts (a batch of payments) or one (a handler).

    The ledger and the invoices are each aggregated once per (account, year) over all the
    accounts asked for, rather than by four subqueries per line: for a thousand accounts
    PostgreSQL estimates the subqueries' plan above its JIT threshold and spends more time
    compiling it than running it (about 30 against 9 ms on the bench machine)."""
    rows = await conn.fetch(
        """WITH g AS (
             SELECT billing_account_number AS ban, coverage_year,
                    sum(amount_cents)::bigint AS balance
             FROM ledger WHERE billing_account_number = ANY($1::text[])
               AND coverage_year IS NOT NULL
             GROUP BY 1, 2),
           iv AS (
             SELECT billing_account_number AS ban, coverage_year,
                    min(due_date) FILTER (WHERE paid_cents < amount_cents) AS open_due,
                    max(due_date) AS last_due,
                    (array_agg(amount_cents ORDER BY coverage_month DESC))[1] AS last_invoice
             FROM invoices WHERE billing_account_number = ANY($1::text[])
             GROUP BY 1, 2)
           SELECT l.billing_account_number AS ban, l.coverage_year, l.plan_name, l.carrier,
                  l.premium_cents, l.status, l.coverage_start, l.terminated_on,
                  coalesce(g.balance, 0)::bigint AS balance, iv.open_due, iv.last_due,
                  iv.last_invoice
           FROM lines l
           LEFT JOIN g ON g.ban = l.billing_account_number AND g.coverage_year = l.coverage_year
           LEFT JOIN iv ON iv.ban = l.billing_account_number AND iv.coverage_year = l.coverage_year
           WHERE l.billing_account_number = ANY($1::text[])
           ORDER BY l.billing_account_number, l.coverage_year""", list(bans))
    out: dict[str, dict] = {}
    for r in rows:
        out.setdefault(r["ban"], {"lines": []})["lines"].append(line_view(today, *list(r.values())[1:]))
    return out


def line_view(today: date, coverage_year: int, plan_name: str, carrier: str, premium_cents: int,
              status: str, coverage_start: date, terminated_on: date | None, balance: int,
              open_due: date | None, last_due: date | None, last_invoice: int | None) -> dict:
    """One line as the summary and `balance.changed` show it: balance, current premium (the
    last invoice's, else the line's premium), the due date and the status on `today`."""
    due = open_due or last_due
    if status in ("terminated", "cancelled"):
        shown = status
    elif balance <= 0:
        shown = "paid" if last_due else "no_bill_yet"
    elif open_due and open_due < today:
        shown = "past_due"
    else:
        shown = "pending_binder" if status == "pending_binder" else "due"
    return {"coverage_year": coverage_year, "plan_name": plan_name, "carrier": carrier,
            "balance_cents": balance,
            "current_premium_cents": last_invoice if last_invoice is not None else premium_cents,
            "due_date": due.isoformat() if due else None, "status": shown,
            "binder": status == "pending_binder" and balance > 0,
            "coverage_start": coverage_start.isoformat(),
            "terminated_on": terminated_on.isoformat() if terminated_on else None}


async def past_due(conn: asyncpg.Connection, ban: str, today: date) -> tuple[int, date | None]:
    """Cents past due and the oldest unpaid coverage month whose due date has passed."""
    row = await conn.fetchrow(
        """SELECT coalesce(sum(amount_cents - paid_cents), 0)::bigint AS cents, min(coverage_month) AS oldest
           FROM invoices WHERE billing_account_number = $1 AND paid_cents < amount_cents
           AND due_date < $2""", ban, today)
    return row["cents"], row["oldest"]


async def line_states(conn: asyncpg.Connection, ban: str) -> list[dict]:
    rows = await conn.fetch("""SELECT coverage_year, status, coverage_start FROM lines
                               WHERE billing_account_number = $1 ORDER BY coverage_year""", ban)
    return [dict(r) for r in rows]


async def delinquency(conn: asyncpg.Connection, ban: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM delinquencies WHERE billing_account_number = $1", ban)


async def latest_plan(conn: asyncpg.Connection, ban: str) -> asyncpg.Record | None:
    return await conn.fetchrow("""SELECT * FROM payment_plans WHERE billing_account_number = $1
                                  ORDER BY created_on DESC, plan_id LIMIT 1""", ban)


async def paid_since(conn: asyncpg.Connection, ban: str, since: date) -> int:
    """Money the member paid (net of returns) in entries booked from `since` on."""
    return -await conn.fetchval(
        """SELECT coalesce(sum(amount_cents), 0)::bigint FROM ledger WHERE billing_account_number = $1
           AND kind IN ('payment', 'credit', 'reversal') AND business_date >= $2""", ban, since)


async def set_plan_status(conn: asyncpg.Connection, plan_id: object, status: str) -> None:
    await conn.execute("UPDATE payment_plans SET status = $2 WHERE plan_id = $1", plan_id, status)


async def void_open_invoices(conn: asyncpg.Connection, ban: str, year: int, day: date) -> int:
    """Void what is still owed on a coverage year that never started (adjustment entries,
    and the paid cache that mirrors them); returns the cents voided."""
    rows = await conn.fetch(
        """SELECT invoice_id, coverage_year, coverage_month, amount_cents - paid_cents AS open
           FROM invoices WHERE billing_account_number = $1 AND coverage_year = $2
             AND paid_cents < amount_cents FOR UPDATE""", ban, year)
    await conn.executemany(
        """INSERT INTO ledger (billing_account_number, coverage_year, coverage_month, invoice_id,
                               kind, amount_cents, business_date)
           VALUES ($1, $2, $3, $4, 'adjustment', $5, $6)""",
        [(ban, r["coverage_year"], r["coverage_month"], r["invoice_id"], -r["open"], day)
         for r in rows])
    await conn.execute(
        """UPDATE invoices SET paid_cents = amount_cents, voided = true
           WHERE invoice_id = ANY($1::uuid[])""", [r["invoice_id"] for r in rows])
    return sum(r["open"] for r in rows)


async def active_plan(conn: asyncpg.Connection, ban: str) -> asyncpg.Record | None:
    return await conn.fetchrow("""SELECT * FROM payment_plans WHERE billing_account_number = $1
                                  AND status = 'active'""", ban)


async def record_notice(conn: asyncpg.Connection, ban: str, grace_start: date, stage: str,
                        month: int, today: date) -> bool:
    """True the first time this notice is recorded (so each is sent once)."""
    status = await conn.execute(
        """INSERT INTO delinquency_notices VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING""",
        ban, grace_start, stage, month, today)
    return status.endswith(" 1")


async def job_done(conn: asyncpg.Connection, job: str, day: date) -> dict | None:
    return await conn.fetchval("SELECT summary FROM job_runs WHERE job = $1 AND business_date = $2",
                               job, day)


async def job_ran(conn: asyncpg.Connection | asyncpg.Pool, job: str, day: date) -> bool:
    """Whether a run of `job` for the business date is recorded (by the scheduler or a CLI)."""
    return bool(await conn.fetchval(
        "SELECT 1 FROM job_runs WHERE job = $1 AND business_date = $2", job, day))


async def record_job(conn: asyncpg.Connection, job: str, day: date, summary: dict) -> None:
    """The first completed run of a job for a date is kept (a rerun finds nothing to do, and
    its empty summary must not hide what the first run did)."""
    await conn.execute("""INSERT INTO job_runs (job, business_date, summary) VALUES ($1, $2, $3)
                          ON CONFLICT (job, business_date) DO NOTHING""", job, day, summary)



# ------------------------------------------------------------------ accounts and lines

async def total_balance(conn: asyncpg.Connection, ban: str) -> int:
    """The account's balance: every ledger entry summed (credit counts against it)."""
    return await conn.fetchval("""SELECT coalesce(sum(amount_cents), 0)::bigint FROM ledger
                                  WHERE billing_account_number = $1""", ban)


async def set_aptc(conn: asyncpg.Connection, ban: str, aptc: bool) -> None:
    await conn.execute("UPDATE accounts SET aptc = $2 WHERE billing_account_number = $1",
                       ban, aptc)


async def update_line_plan(conn: asyncpg.Connection, ban: str, year: int, plan_name: str,
                           carrier: str, premium_cents: int) -> None:
    """A line's plan and carrier now; a premium change is kept for the next cycle."""
    await conn.execute(
        """UPDATE lines SET plan_name = $3, carrier = $4,
               next_premium_cents = CASE WHEN $5::bigint <> premium_cents THEN $5 END
           WHERE billing_account_number = $1 AND coverage_year = $2""",
        ban, year, plan_name, carrier, premium_cents)


async def activate_binder_lines(conn: asyncpg.Connection,
                                bans: Sequence[str]) -> list[asyncpg.Record]:
    """The accounts' lines waiting on a binder that is now paid in full become active;
    returns them, in account and coverage year order."""
    return await conn.fetch(
        """WITH done AS (
             UPDATE lines l SET status = 'active' FROM invoices i
             WHERE l.billing_account_number = ANY($1::text[]) AND l.status = 'pending_binder'
               AND i.billing_account_number = l.billing_account_number
               AND i.coverage_year = l.coverage_year AND i.kind = 'binder'
               AND i.paid_cents = i.amount_cents
             RETURNING l.billing_account_number, l.enrollment_id, l.coverage_year,
                       l.coverage_start)
           SELECT * FROM done ORDER BY billing_account_number, coverage_year""", list(bans))


async def reinstate_lines(conn: asyncpg.Connection, ban: str,
                          terminated_on: date) -> list[asyncpg.Record]:
    """The lines a termination on `terminated_on` ended are active again; returns them."""
    return await conn.fetch(
        """UPDATE lines SET status = 'active', terminated_on = NULL
           WHERE billing_account_number = $1 AND status = 'terminated' AND terminated_on = $2
           RETURNING enrollment_id, coverage_year, coverage_start, premium_cents""",
        ban, terminated_on)


async def terminate_active_lines(conn: asyncpg.Connection, ban: str,
                                 terminated_on: date) -> list[asyncpg.Record]:
    """Every active line ends on `terminated_on` (non-payment); returns them."""
    return await conn.fetch(
        """UPDATE lines SET status = 'terminated', terminated_on = $2
           WHERE billing_account_number = $1 AND status = 'active'
           RETURNING enrollment_id, coverage_year""", ban, terminated_on)


async def cancel_unpaid_binders(conn: asyncpg.Connection, day: date) -> list[asyncpg.Record]:
    """Lines whose binder is still unpaid after its due date never start (cancelled from
    their coverage start); returns them."""
    return await conn.fetch(
        """UPDATE lines l SET status = 'cancelled', terminated_on = l.coverage_start
           FROM invoices i
           WHERE l.status = 'pending_binder' AND i.billing_account_number = l.billing_account_number
             AND i.coverage_year = l.coverage_year AND i.kind = 'binder'
             AND i.paid_cents < i.amount_cents AND i.due_date < $1
           RETURNING l.billing_account_number, l.enrollment_id, l.coverage_year, l.coverage_start""",
        day)


# ------------------------------------------------------------------ delinquencies

async def delinquency_candidates(conn: asyncpg.Connection, day: date) -> list[str]:
    """Accounts with money past due on an active line, or in a grace period."""
    rows = await conn.fetch(
        """SELECT DISTINCT i.billing_account_number FROM invoices i
           JOIN lines l ON l.billing_account_number = i.billing_account_number
                       AND l.coverage_year = i.coverage_year AND l.status = 'active'
           WHERE i.paid_cents < i.amount_cents AND i.due_date < $1
           UNION SELECT billing_account_number FROM delinquencies WHERE status = 'in_grace'""",
        day)
    return [r[0] for r in rows]


async def resolve_delinquency_row(conn: asyncpg.Connection, ban: str, day: date) -> None:
    await conn.execute("""UPDATE delinquencies SET status = 'resolved', resolved_on = $2
                          WHERE billing_account_number = $1""", ban, day)


async def reinstate_delinquency_row(conn: asyncpg.Connection, ban: str, day: date) -> None:
    await conn.execute("""UPDATE delinquencies SET status = 'reinstated', resolved_on = $2
                          WHERE billing_account_number = $1""", ban, day)


async def terminate_delinquency_row(conn: asyncpg.Connection, ban: str,
                                    terminated_on: date) -> None:
    await conn.execute("""UPDATE delinquencies SET status = 'terminated', terminated_on = $2
                          WHERE billing_account_number = $1""", ban, terminated_on)


async def start_grace(conn: asyncpg.Connection, ban: str, grace_start: date, grace_end: date,
                      grace_months: int, day: date) -> None:
    """A grace period begins (a new row, or the account's earlier one reopened)."""
    await conn.execute(
        """INSERT INTO delinquencies (billing_account_number, grace_start, grace_end, grace_months,
                                      status, started_on) VALUES ($1, $2, $3, $4, 'in_grace', $5)
           ON CONFLICT (billing_account_number) DO UPDATE SET grace_start = $2, grace_end = $3,
             grace_months = $4, status = 'in_grace', started_on = $5, resolved_on = NULL""",
        ban, grace_start, grace_end, grace_months, day)


# ------------------------------------------------------------------ reconcile

async def invoice_cache_mismatches(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Invoices whose amount or paid cache differs from their ledger entries."""
    return await conn.fetch(
        """SELECT i.billing_account_number AS ban, i.invoice_id, i.amount_cents, i.paid_cents,
                  coalesce(sum(l.amount_cents) FILTER (WHERE l.kind = 'invoice'), 0)::bigint AS billed,
                  -coalesce(sum(l.amount_cents) FILTER (WHERE l.kind <> 'invoice'), 0)::bigint AS paid
           FROM invoices i LEFT JOIN ledger l ON l.invoice_id = i.invoice_id
           GROUP BY i.invoice_id
           HAVING coalesce(sum(l.amount_cents) FILTER (WHERE l.kind = 'invoice'), 0) <> i.amount_cents
               OR -coalesce(sum(l.amount_cents) FILTER (WHERE l.kind <> 'invoice'), 0) <> i.paid_cents""")


async def credit_mismatches(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Accounts whose ledger credits differ from the settled, unreturned payments, or whose
    credit-applied entries do not net to zero."""
    return await conn.fetch(
        """WITH credited AS (
             SELECT billing_account_number AS ban, -sum(amount_cents)::bigint AS cents FROM ledger
             WHERE kind IN ('payment', 'credit', 'reversal') GROUP BY 1),
           received AS (
             SELECT billing_account_number AS ban, sum(amount_cents)::bigint AS cents FROM payments
             WHERE credited AND NOT returned GROUP BY 1),
           pairs AS (
             SELECT billing_account_number AS ban, sum(amount_cents)::bigint AS cents FROM ledger
             WHERE kind = 'credit_applied' GROUP BY 1)
           SELECT coalesce(c.ban, r.ban, p.ban) AS ban, coalesce(c.cents, 0) AS credited,
                  coalesce(r.cents, 0) AS received, coalesce(p.cents, 0) AS credit_pairs
           FROM credited c FULL JOIN received r ON r.ban = c.ban FULL JOIN pairs p
             ON p.ban = coalesce(c.ban, r.ban)
           WHERE coalesce(c.cents, 0) <> coalesce(r.cents, 0) OR coalesce(p.cents, 0) <> 0""")


async def orphan_entries(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Per account, ledger entries of a coverage year on no invoice of that account and year."""
    return await conn.fetch(
        """SELECT g.billing_account_number AS ban, count(*) AS n, sum(g.amount_cents)::bigint AS cents
           FROM ledger g LEFT JOIN invoices i ON i.invoice_id = g.invoice_id
             AND i.billing_account_number = g.billing_account_number
             AND i.coverage_year = g.coverage_year
           WHERE g.coverage_year IS NOT NULL AND i.invoice_id IS NULL
           GROUP BY 1""")


# ------------------------------------------------------------------ read models

async def invoice_rows(conn: asyncpg.Connection, ban: str) -> list[asyncpg.Record]:
    """The account's invoices, newest coverage month first."""
    return await conn.fetch("""SELECT * FROM invoices WHERE billing_account_number = $1
                               ORDER BY coverage_month DESC, coverage_year DESC""", ban)


async def ledger_rows(conn: asyncpg.Connection, ban: str, limit: int) -> list[asyncpg.Record]:
    """The account's latest `limit` ledger entries, newest first."""
    return await conn.fetch("""SELECT * FROM ledger WHERE billing_account_number = $1
                               ORDER BY entry_id DESC LIMIT $2""", ban, limit)


async def ledger_between(conn: asyncpg.Connection, ban: str, start: date,
                         end: date) -> list[asyncpg.Record]:
    """Entries booked from `start` up to (not including) `end`, in booking order."""
    return await conn.fetch(
        """SELECT * FROM ledger WHERE billing_account_number = $1 AND business_date >= $2
           AND business_date < $3 ORDER BY business_date, entry_id""", ban, start, end)


async def balance_before(conn: asyncpg.Connection, ban: str, day: date) -> int:
    """The balance of every entry booked before `day`."""
    return await conn.fetchval("""SELECT coalesce(sum(amount_cents), 0)::bigint FROM ledger
                                  WHERE billing_account_number = $1 AND business_date < $2""",
                               ban, day)


async def insert_payment_plan(conn: asyncpg.Connection, ban: str, total_cents: int, months: int,
                              created_on: date, schedule: list) -> asyncpg.Record:
    """A new active hardship plan; returns its row."""
    return await conn.fetchrow(
        """INSERT INTO payment_plans (plan_id, billing_account_number, total_cents, months,
                                      created_on, status, schedule)
           VALUES ($1, $2, $3, $4, $5, 'active', $6) RETURNING *""",
        uuid.uuid4(), ban, total_cents, months, created_on, schedule)


async def refund_kinds(conn: asyncpg.Connection, ban: str, refund_id: str) -> set[str]:
    """The refund entries (refund, refund_returned) already booked for a refund."""
    rows = await conn.fetch("""SELECT DISTINCT kind FROM ledger WHERE billing_account_number = $1
                               AND payment_id = $2 AND kind IN ('refund', 'refund_returned')""",
                            ban, refund_id)
    return {r["kind"] for r in rows}
