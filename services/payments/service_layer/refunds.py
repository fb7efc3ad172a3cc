"""Refunds of credit: a member asks for the account's credit back (POST
/accounts/{ban}/refunds, once per idempotency key); above `refund_approval_cents` an
operator approves it first (cli refunds); approved refunds go out with the day's refund
job: bank accounts as ACH credit entries (22 checking, 32 savings) in one NACHA file per
business date, cards as a processor refund of the charge that paid. `refund.requested`,
`refund.issued`, (a bank's return) `refund.returned` and (not sent) `refund.failed` go out on payments.v1 in the same
transaction as the change; billing books them against the credit.
"""
from __future__ import annotations

import hashlib
import logging
import os
import uuid
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg

from services.payments.adapters import refund_store as store
from services.payments.adapters import repository as repo
from services.payments.adapters.processor import ProcessorUnavailable
from services.payments.domain import nacha
from services.payments.domain import refunds as rules
from services.payments.domain.methods import InvalidInput
from services.payments.domain.returns import RETURN_REASONS
from services.payments.service_layer import events
from services.payments.service_layer.deps import Deps
from services.payments.service_layer.errors import (
    NoRefundMethod,
    RefundNotPending,
    RefundOverCredit,
    UnknownAccount,
    UnknownRefund,
)
from services.payments.service_layer.submissions import Answer, replay, request_hash
from services.payments.service_layer.submissions import store as store_answer
from shared.calendar import add_banking_days, is_banking_day
from shared.files import open_private, private_dir
from shared.money import format_cents

Progress = Callable[[str], None]
log = logging.getLogger(__name__)
SCOPE = "refund"
KEY_MAX = 200


def _quiet(_: str) -> None:
    pass


def refund_view(r: Any) -> dict[str, Any]:
    iso = lambda d: d.isoformat() if d else None  # noqa: E731
    method = {"type": r["method_type"], "last4": r["method_last4"]}
    if r["method_brand"]:
        method["brand"] = r["method_brand"]
    return {"refund_id": str(r["refund_id"]), "confirmation_number": r["confirmation_number"],
            "billing_account_number": r["billing_account_number"],
            "amount_cents": r["amount_cents"], "amount": format_cents(r["amount_cents"]),
            "status": r["status"], "method": method, "requested_on": iso(r["requested_on"]),
            "effective_date": iso(r["effective_date"]), "issued_on": iso(r["issued_on"]),
            "returned_on": iso(r["returned_on"]), "return_code": r["return_code"]}


def _key(body: dict) -> str:
    key = body.get("idempotency_key")
    if not isinstance(key, str) or not 8 <= len(key) <= KEY_MAX or not key.isascii() or not key.isprintable():
        raise InvalidInput({"idempotency_key": "An Idempotency-Key of 8 to 200 characters is required."})
    return key


async def request_refund(deps: Deps, ban: str, body: Any) -> Answer:
    """The member's request: `amount` "credit" (all of it) or dollars and cents ("12.34"),
    never more than the credit less the refunds on their way. Once per idempotency key:
    a retry is given the first answer, another body under the key a conflict."""
    if not isinstance(body, dict):
        raise InvalidInput({"amount": "Send a JSON object."})
    key = _key(body)
    req_hash = request_hash(deps, SCOPE, body)
    today = deps.today()
    async with deps.pool.acquire() as conn:
        existing = await repo.get_key(conn, key)
        if existing is not None:
            return replay(existing, req_hash)
        async with conn.transaction():
            if not await repo.claim_key(conn, key, SCOPE, req_hash):
                return replay(await repo.get_key(conn, key), req_hash)
            owed = await store.lock_account(conn, ban)
            if owed is None:
                raise UnknownAccount()
            free = rules.available(owed["total_balance_cents"],
                                   await store.on_their_way_cents(conn, ban, owed["balance_as_of"]))
            try:
                cents = rules.amount_of(body.get("amount"), free)
            except rules.BadAmount as exc:
                if free <= 0:
                    raise RefundOverCredit(0) from None
                raise InvalidInput({"amount": str(exc)}) from None
            if cents > free:
                raise RefundOverCredit(free)
            paid = await store.paying_payment(conn, ban)
            if paid is None:
                raise NoRefundMethod()
            if paid["rail"] == "card" and cents > paid["amount_cents"]:
                raise InvalidInput({"amount": "A card refund is at most the card payment it goes back "
                                              f"to ({format_cents(paid['amount_cents'])})."})
            row = await store.insert(
                conn, refund_id=uuid.uuid4(), confirmation_number=rules.confirmation_number(),
                billing_account_number=ban, amount_cents=cents, payment_id=paid["payment_id"],
                method_id=paid["method_id"], method_type=paid["method_type"],
                method_last4=paid["method_last4"], method_brand=paid["method_brand"],
                rail=paid["rail"], status=rules.status_for(cents, deps.settings.refund_approval_cents),
                idempotency_key=key, contact=paid["contact"], member_id=paid["member_id"],
                requested_on=today)
            await events.enqueue(conn, events.refund_requested(row))
            answer = Answer(refund_view(row))
            await store_answer(conn, key, answer)
    log.info("refund requested", extra={"billing_account_number": ban, "refund_id": str(row["refund_id"]),
                                        "amount_cents": cents, "status": row["status"]})
    if row["status"] == rules.APPROVED and row["rail"] == "card":
        issued = await _refund_card(deps, row, today)
        if issued is not None:
            answer = Answer({**refund_view(issued)})
    return answer


async def account_refunds(deps: Deps, ban: str) -> list[dict[str, Any]]:
    async with deps.pool.acquire() as conn:
        return [refund_view(r) for r in await store.of_account(conn, ban)]


async def pending(deps: Deps) -> list[dict[str, Any]]:
    async with deps.pool.acquire() as conn:
        return [refund_view(r) for r in await store.pending_approval(conn)]


async def approve(deps: Deps, refund_id: str, operator: str) -> dict[str, Any]:
    """An operator approves a refund waiting for it: a card refund goes at once, a bank
    account's with the next refund file."""
    try:
        rid = uuid.UUID(refund_id)
    except ValueError:
        raise UnknownRefund() from None
    async with deps.pool.acquire() as conn:
        if await store.get(conn, rid) is None:
            raise UnknownRefund()
        row = await store.approve(conn, rid, operator)
    if row is None:
        raise RefundNotPending()
    log.info("refund approved", extra={"refund_id": refund_id, "operator": operator})
    if row["rail"] == "card":
        row = await _refund_card(deps, row, deps.today()) or row
    return refund_view(row)


async def _refund_card(deps: Deps, row: asyncpg.Record, today: date) -> asyncpg.Record | None:
    """The processor refunds the charge that paid (keyed by the refund, so a retry refunds
    once); None when the processor does not answer (the job tries again)."""
    async with deps.pool.acquire() as conn:
        charge = await store.charge_of(conn, row["payment_id"])
    try:
        result = await deps.processor.refund(charge or "", row["amount_cents"], str(row["refund_id"]))
    except ProcessorUnavailable:
        log.warning("card refund waits: the processor did not answer",
                    extra={"refund_id": str(row["refund_id"])})
        return None
    async with deps.pool.acquire() as conn, conn.transaction():
        current = await store.get(conn, row["refund_id"], lock=True)
        if current is None or current["status"] != rules.APPROVED:
            return current
        if not result.succeeded:
            log.error("card refund refused by the processor",
                      extra={"refund_id": str(row["refund_id"]), "code": result.code})
            failed = await store.update(conn, row["refund_id"], status="failed", failure_code=result.code)
            await events.enqueue(conn, events.refund_failed(failed, today))
            return failed
        issued = await store.mark_card_issued(conn, row["refund_id"], today, result.refund_id)
        await events.enqueue(conn, events.refund_issued(issued))
        return issued


def file_name(day: date) -> str:
    return f"PAYMENTS_{day:%Y%m%d}_R.ach"


async def run_refunds(deps: Deps, day: date, progress: Progress = _quiet) -> dict:
    """The day's refunds: approved card refunds the processor did not take yet, and one
    NACHA credit file of every approved bank refund requested by `day` (effective the next
    banking day). A second run for the same date finds the file recorded."""
    async with deps.pool.acquire() as conn:
        cards = await store.approved_card_refunds(conn)
    for r in cards:
        await _refund_card(deps, r, day)
    if not is_banking_day(day):
        progress(f"{day}: not a banking day; approved bank refunds wait for the next file")
        return {"file": None, "entries": 0, "cards": len(cards)}
    s = deps.settings
    out_dir = private_dir(Path(s.ach_outbound_dir))
    name = file_name(day)
    target, tmp = out_dir / name, out_dir / (name + ".part")
    async with deps.pool.acquire() as conn, conn.transaction():
        await store.lock_refund_file(conn)
        existing = await store.file_of_date(conn, day)
        if existing is not None:
            progress(f"{day}: refund file {existing['file_name']} already made ({existing['entries']} entries)")
            return {"file": existing["file_name"], "entries": existing["entries"], "already": True}
        file_id = await store.open_file(conn, day, name)
        rows = await store.assign_to_file(conn, file_id, day, add_banking_days(day, 1),
                                          s.ach_odfi_routing[:8])
        if not rows:
            await store.drop_file(conn, file_id)
            progress(f"{day}: no approved bank refunds; no refund file")
            return {"file": None, "entries": 0, "cards": len(cards)}
        origin = nacha.Origin(s.ach_odfi_routing, s.ach_destination_name, s.ach_company_name,
                              s.ach_company_id, entry_description="REFUND")
        sha = hashlib.sha256()
        held: list[uuid.UUID] = []
        try:
            with open_private(tmp, "w", encoding="ascii", newline="") as f:
                def write(text: str) -> None:
                    f.write(text)
                    sha.update(text.encode("ascii"))
                writer = nacha.NachaWriter(origin, deps.clock(), "R", write, s.ach_batch_entries_max,
                                           credits=True)
                effective = add_banking_days(day, 1)
                async for e in store.file_entries(conn, file_id):
                    account = deps.cipher.decrypt(e["account_ciphertext"], e["key_id"], e["method_id"])
                    try:
                        writer.add(effective, nacha.Entry(
                            e["type"], e["routing_number"] or "", account, e["amount_cents"],
                            e["billing_account_number"], e["holder_name"] or "",
                            int(e["trace_number"][8:]), False))
                    except nacha.UnwritableEntry as exc:
                        held.append(e["refund_id"])
                        log.error("ACH refund held out of the file: it cannot be written",
                                  extra={"refund_id": str(e["refund_id"]), "field": exc.field})
                totals = writer.finish()
                f.flush()
                os.fsync(f.fileno())
            issued = []
            for r in rows:
                if r["refund_id"] in held:
                    failed = await store.update(conn, r["refund_id"], status="failed", refund_file_id=None,
                                                trace_number=None, effective_date=None, issued_on=None,
                                                issued_at=None, failure_code="ach_entry_unwritable")
                    await events.enqueue(conn, events.refund_failed(failed, day))
                else:
                    issued.append(r)
            if not issued:
                tmp.unlink(missing_ok=True)
                await store.drop_file(conn, file_id)
                return {"file": None, "entries": 0, "held_out": len(held)}
            await store.close_file(conn, file_id, sha.hexdigest(), totals["entries"], totals["credit_cents"])
            await events.enqueue(conn, *(events.refund_issued(r) for r in issued))
            deps.archive.store_file(name, tmp)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        os.replace(tmp, target)
    progress(f"done: {name}: {totals['entries']} refund credits, "
             f"{totals['credit_cents'] / 100:,.2f}")
    return {"file": name, "path": str(target), "entries": totals["entries"],
            "credit_cents": totals["credit_cents"], "held_out": len(held), "cards": len(cards)}


async def apply_return(conn: asyncpg.Connection, day: date, r: asyncpg.Record, code: str) -> None:
    """The bank returned a refund's credit entry: the money is ours again (billing gives the
    credit back on `refund.returned`). The same return in another file applies once."""
    if r["status"] == "returned":
        return
    reason = RETURN_REASONS.get(code, "Returned by the bank")
    row = await store.update(conn, r["refund_id"], status="returned", returned_on=day, return_code=code)
    await events.enqueue(conn, events.refund_returned(row, reason))
    log.info("refund returned by the bank", extra={"refund_id": str(r["refund_id"]), "return_code": code})
