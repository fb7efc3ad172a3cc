"""Checks and money orders: the lockbox bank's daily file, an item taken at a counter
(phone or walk-in), and the items held for an operator.

Each item is recorded exactly once, however often a file is imported and however many
imports run at once: a file is one transaction that first claims the file's SHA-256
(a second import of the same bytes waits on that key, then finds it taken), and every item
is inserted under its own unique key (the bank's deposit date, batch and sequence), so an
item that another file already carried is skipped rather than paid twice.

An item for an account we know becomes a payment like any other: a row on the `lockbox`
rail, settled as of its deposit date (the bank has the money), announced with
`payment.submitted` then `payment.settled` (billing applies it oldest month first, notify
sends the receipt). An item for an account payments does not know is recorded `unapplied`
and listed for an operator: received money is never dropped.
"""
from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import asyncpg

from services.payments.adapters import lockbox_store as store
from services.payments.adapters import repository as repo
from services.payments.domain import schedule
from services.payments.domain.amounts import Line, allocate
from services.payments.domain.lockbox import Item, Refused, check_fields, decode, parse_file
from services.payments.service_layer import events
from services.payments.service_layer.deps import Deps
from shared.money import format_dollars as _dollars

Progress = Callable[[str], None]
CHANNEL = RAIL = "lockbox"
UNKNOWN_ACCOUNT = "unknown_account"
PROGRESS_EVERY = 1000


def _quiet(_: str) -> None:
    pass


@dataclass(frozen=True)
class Recorded:
    """What became of one item: `applied` (its payment's confirmation number),
    `unapplied` (held, with the reason) or `already` (recorded before; nothing changed)."""

    status: str
    confirmation_number: str | None = None
    reason: str | None = None


async def import_file(deps: Deps, path: Path, day: date, progress: Progress = _quiet) -> dict:
    """Imports a lockbox file for business date `day`: every item, or (a bad line) none of
    them, `refused` naming each line and field. The same file again is `already_imported`."""
    raw = path.read_bytes()
    sha = hashlib.sha256(raw).hexdigest()
    summary: dict = {"file": path.name, "sha256": sha, "items": 0, "applied": 0,
                     "unapplied": 0, "already": 0, "total_cents": 0}
    try:
        items = parse_file(decode(raw), day, deps.settings.payment_max_cents)
    except Refused as exc:
        for problem in exc.problems:
            progress(f"  {problem}")
        progress(f"{path.name}: REFUSED, nothing recorded: {len(exc.problems)} problem(s)")
        return {**summary, "refused": [str(p) for p in exc.problems]}
    total = sum(i.amount_cents for i in items)
    summary.update(items=len(items), total_cents=total)
    progress(f"{path.name}: {len(items)} items, {_dollars(total)}")
    async with deps.pool.acquire() as conn:
        if await store.file_imported(conn, sha) is not None:
            progress(f"{path.name}: already imported; nothing changed")
            return {**summary, "already_imported": True}
        async with conn.transaction():
            if not await store.claim_file(conn, sha, path.name, day, len(items), total):
                progress(f"{path.name}: already imported; nothing changed")
                return {**summary, "already_imported": True}
            for n, item in enumerate(items, start=1):
                done = await _record(conn, item, "lockbox", sha)
                summary[done.status] += 1
                if n % PROGRESS_EVERY == 0:
                    progress(f"  {n}/{len(items)} items recorded")
            await store.count_file(conn, sha, summary["applied"], summary["unapplied"],
                                   summary["already"])
    progress(f"{path.name}: {summary['applied']} applied, {summary['unapplied']} held unapplied, "
             f"{summary['already']} already recorded from another file")
    return summary


async def record_item(deps: Deps, fields: dict[str, str], day: date,
                      progress: Progress = _quiet) -> Recorded:
    """One check or money order taken at a counter (phone or walk-in), its fields as typed;
    `Refused` names the bad ones. The same check (account, kind, number) again is `already`."""
    item, problems = check_fields(fields, day, None, deps.settings.payment_max_cents, batch=False)
    if item is None:
        raise Refused(problems)
    async with deps.pool.acquire() as conn, conn.transaction():
        done = await _record(conn, item, "counter", None)
    what = f"{item.kind.replace('_', ' ')} #{item.check_number} for {_dollars(item.amount_cents)}"
    if done.status == "applied":
        progress(f"{what}: applied to {item.billing_account_number}, "
                 f"confirmation {done.confirmation_number}")
    elif done.status == "unapplied":
        progress(f"{what}: held unapplied ({done.reason})")
    else:
        progress(f"{what}: already recorded; nothing changed")
    return done


async def unapplied_items(deps: Deps, limit: int = 1000) -> list[asyncpg.Record]:
    """The items held for an operator, oldest deposit first."""
    async with deps.pool.acquire() as conn:
        return await store.unapplied(conn, limit)


async def _record(conn: asyncpg.Connection, item: Item, source: str,
                  sha: str | None) -> Recorded:
    item_id = await store.insert_item(
        conn, source=source, file_sha256=sha, line_number=item.line_number,
        deposit_date=item.deposit_date, batch_id=item.batch_id, item_sequence=item.item_sequence,
        billing_account_number=item.billing_account_number, amount_cents=item.amount_cents,
        kind=item.kind, check_number=item.check_number, payer_name=item.payer_name)
    if item_id is None:
        return Recorded("already")
    owed = await repo.get_owed(conn, item.billing_account_number)
    if owed is None:
        await store.mark_unapplied(conn, item_id, UNKNOWN_ACCOUNT)
        return Recorded("unapplied", reason=UNKNOWN_ACCOUNT)
    payment = await _settled_payment(conn, item, owed)
    await store.mark_applied(conn, item_id, payment["payment_id"])
    await events.enqueue(conn, events.submitted(payment), events.settled(payment, item.deposit_date))
    return Recorded("applied", payment["confirmation_number"])


async def _settled_payment(conn: asyncpg.Connection, item: Item,
                           owed: asyncpg.Record) -> asyncpg.Record:
    """The item's payment row: settled on its deposit date; split over the account's
    coverage years oldest first, as a payment of the total is (billing then pays each
    year's oldest month first). The bank holds the money already, so an amount above what
    is owed is taken too: billing keeps the rest as credit."""
    lines = [Line(int(x["coverage_year"]), int(x.get("balance_cents") or 0)) for x in owed["lines"]]
    allocations = allocate(item.amount_cents, lines, None) if lines else []
    day = item.deposit_date
    return await repo.insert_payment(
        conn, payment_id=uuid.uuid4(), confirmation_number=schedule.confirmation_number(),
        billing_account_number=item.billing_account_number, plan_type=owed["plan_type"],
        kind="one_time", channel=CHANNEL, rail=RAIL, amount_cents=item.amount_cents,
        allocations=allocations, method_id=None, method_type=item.kind,
        method_last4=item.last4, method_brand=None, status="settled", submitted_on=day,
        expected_withdrawal_date=day, effective_date=day, settled_on=day,
        contact={"email": None, "phone": None, "language": None}, member_id=None)
