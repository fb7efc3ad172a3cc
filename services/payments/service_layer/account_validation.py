"""Account validation of bank accounts new to the system (docs/design.md "Account
validation"): started when a new bank account is saved, its entries written in the next
cutoff file, answered by the bank's returns and NOCs (or by the member confirming the
micro-entry amounts), and the account's debits held until it is validated."""
from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import date
from typing import Any

import asyncpg

from services.payments.adapters import repository as repo
from services.payments.adapters import validation_store as store
from services.payments.domain import account_validation as rules
from services.payments.domain import nacha, same_day
from services.payments.domain.methods import InvalidInput
from services.payments.service_layer import corrections, events
from services.payments.service_layer.deps import Deps
from services.payments.service_layer.errors import NoMethod, NoValidation

log = logging.getLogger(__name__)
Progress = Callable[[str], None]
FAILED_CODE = "account_validation_failed"
FAILED_REASON = ("your bank could not confirm this account, so the payment was not sent; "
                 "please pay with another bank account")


async def start(conn: asyncpg.Connection, deps: Deps, method: asyncpg.Record,
                contact: dict[str, Any] | None, today: date) -> asyncpg.Record | None:
    """A bank account new to the system: its validation, by the configured method
    (`account.validation_started`); none when validation is off."""
    kind = deps.settings.account_validation
    if kind == "none" or method["type"] not in ("checking", "savings"):
        return None
    v = await store.insert(conn, method_id=method["method_id"], ban=method["billing_account_number"],
                           kind=kind, requested_on=today, contact=contact or {})
    await events.enqueue(conn, events.validation_started(v, method))
    return v


def first_debit_date(kind: str, today: date, due_date: date | None, after_cutoff: bool) -> dict:
    """What the member is told when they add the account: when the validation entries go
    and when the first debit may settle (the due date's rule applied)."""
    from shared.calendar import add_banking_days, next_banking_day
    cutoff = next_banking_day(today if not after_cutoff else add_banking_days(today, 1))
    urgent = rules.goes_with_validation(kind, cutoff, due_date)
    return {"kind": kind, "entries_sent_on": cutoff.isoformat(),
            "entries_arrive_on": rules.entry_effective_date(cutoff).isoformat(),
            "debit_with_validation": urgent,
            "first_debit_on": (rules.entry_effective_date(cutoff) if urgent
                               else rules.earliest_debit_date(kind, cutoff)).isoformat()}


def with_binder(kind: str, plan: same_day.Plan) -> dict:
    """The same for a binder sent early to meet its due date: the validation entries go in
    the debit's own file (the next one, or its same-day window) and arrive with it."""
    return {"kind": kind, "entries_sent_on": plan.sent_on.isoformat(),
            "entries_arrive_on": plan.withdrawal.isoformat(), "debit_with_validation": True,
            "first_debit_on": plan.withdrawal.isoformat()}


# ------------------------------------------------------------------ the cutoff
async def before_cutoff(conn: asyncpg.Connection, day: date, progress: Progress) -> None:
    """Prenotes whose waiting period ended are validated (`account.validated`); a debit
    still waiting for its account's validation goes with it when waiting would miss the
    due date of what it pays."""
    for v in await store.prenotes_due(conn, day):
        method = await repo.method(conn, v["method_id"])
        await events.enqueue(conn, events.validated(v, method, day))
        progress(f"  account validated (prenote, no return): method {v['method_id']}")
    # Only with entries still to send: once they are sent, a debit never goes before the
    # validation is over (a prenote's waiting period, the member's confirmation).
    urgent = [r["payment_id"] for r in await store.held_debits(conn, day)
              if r["status"] == "pending" and rules.goes_with_validation(r["kind"], day, r["due_date"])]
    if urgent:
        await store.send_with_validation(conn, urgent)
        progress(f"  {len(urgent)} debits go with their account's validation to meet a due date")


async def file_entries(conn: asyncpg.Connection, deps: Deps, day: date, file_id: int,
                       progress: Progress, same_day: bool = False) -> list[tuple[date, nacha.Entry]]:
    """The validation entries of the day's file (trace numbers given, validations marked
    sent): a prenote, or two micro-entry credits and their offsetting debit. A same-day
    file carries only those of the accounts it debits, effective that same day."""
    s = deps.settings
    effective = day if same_day else rules.entry_effective_date(day)
    odfi8 = s.ach_odfi_routing[:8]
    out: list[tuple[date, nacha.Entry]] = []
    for r in await store.pending_entries(conn, day, file_id if same_day else None):
        account = deps.cipher.decrypt(r["account_ciphertext"], r["key_id"], r["method_id"])
        base = dict(account_type=r["type"], routing_number=r["routing_number"] or "",
                    account_number=account, individual_id=r["billing_account_number"],
                    individual_name=r["holder_name"] or "", recurring=False)
        if r["kind"] == "prenote":
            [trace] = await store.next_traces(conn, odfi8, 1)
            entries = [nacha.Entry(**base, amount_cents=0, trace_seq=int(trace[8:]),
                                   tx_code=nacha.PRENOTE_TX_CODE[r["type"]])]
            traces, cents, live_from = [trace], None, rules.prenote_live_from(effective)
        else:
            traces = await store.next_traces(conn, odfi8, 3)
            a, b = rules.micro_amounts()
            d = rules.MICRO_ENTRY_DESCRIPTION
            credit = nacha.CREDIT_TX_CODE[r["type"]]
            entries = [nacha.Entry(**base, amount_cents=a, trace_seq=int(traces[0][8:]), tx_code=credit, description=d),
                       nacha.Entry(**base, amount_cents=b, trace_seq=int(traces[1][8:]), tx_code=credit, description=d),
                       nacha.Entry(**base, amount_cents=a + b, trace_seq=int(traces[2][8:]),
                                   tx_code=nacha.TX_CODE[r["type"]], description=d)]
            cents, live_from = [a, b], None
        try:
            for e in entries:
                nacha.check_entry(e)
        except nacha.UnwritableEntry as exc:
            log.error("account validation entry cannot be written",
                      extra={"method_id": str(r["method_id"]), "field": exc.field})
            continue
        v = await store.mark_sent(conn, r["validation_id"], file_id, effective, live_from, traces, cents)
        if v["kind"] == "micro_entries":
            method = await repo.method(conn, v["method_id"])
            await events.enqueue(conn, events.micro_entries_sent(v, method, rules.MICRO_TRIES_MAX))
        out.extend((effective, e) for e in entries)
    if out:
        progress(f"  {len(out)} account validation entries")
    return out


# ------------------------------------------------------------------ returns and NOCs
async def on_item(conn: asyncpg.Connection, deps: Deps, day: date, v: asyncpg.Record,
                  item: nacha.ReturnItem) -> None:
    """A return marks the account invalid (method disabled, waiting debits failed, the
    member told); a NOC corrects the account as the bank asks."""
    if item.kind == "return":
        if v["status"] in store.OPEN:
            await _fail(conn, day, v, "returned", item.code)
        return
    if item.original_trace != v["trace_numbers"][0]:
        return  # the micro-entries' other entries carry the same correction
    # The debits that follow go to the corrected details, once the validation is over as
    # for any other (the prenote's waiting period, the member's confirmation).
    await corrections.correct_method(conn, deps, v["method_id"], item)


async def _fail(conn: asyncpg.Connection, day: date, v: asyncpg.Record, reason: str,
                code: str | None) -> None:
    v = await store.set_status(conn, v["validation_id"], "failed", reason=reason, return_code=code)
    why = f"{code}: account validation" if code else "account validation: amounts not confirmed"
    m = await repo.set_method_status(conn, v["method_id"], "disabled", why)
    follow: list[events.PaymentsPayload] = [events.method_updated(m, "disabled", why)]
    for p in await store.fail_held(conn, v["method_id"], FAILED_CODE):
        follow.append(events.failed(p, FAILED_CODE, FAILED_REASON))
    follow.append(events.validation_failed(v, m, day, reason, code))
    await events.enqueue(conn, *follow)


# ------------------------------------------------------------------ the member's answer
async def status(deps: Deps, ban: str, method_id: str) -> dict:
    """GET /accounts/{ban}/methods/{method_id}/validation."""
    async with deps.pool.acquire() as conn:
        method, v = await _of(conn, ban, method_id)
    return view(v, deps.today())


def view(v: asyncpg.Record, today: date) -> dict:
    waiting = v["kind"] == "micro_entries" and v["status"] == "sent"
    return {"validation_id": str(v["validation_id"]), "kind": v["kind"], "status": v["status"],
            "requested_on": v["requested_on"].isoformat(),
            "entries_arrive_on": v["effective_date"].isoformat() if v["effective_date"] else None,
            "debits_from": v["live_from"].isoformat() if v["live_from"] else None,
            "can_confirm": waiting and today >= v["effective_date"],
            "tries_left": max(rules.MICRO_TRIES_MAX - v["tries"], 0),
            "failure_reason": v["failure_reason"], "return_code": v["return_code"]}


async def _of(conn: asyncpg.Connection, ban: str, method_id: str, lock: bool = False
              ) -> tuple[asyncpg.Record, asyncpg.Record]:
    try:
        mid = uuid.UUID(method_id)
    except ValueError:
        raise NoMethod() from None
    method = await repo.lock_account_method(conn, ban, mid) if lock else await repo.method(conn, mid)
    if method is None or method["billing_account_number"] != ban or method["removed_at"] is not None:
        raise NoMethod()
    v = await store.latest_of_method(conn, mid, lock=lock)
    if v is None:
        raise NoValidation()
    return method, v


async def confirm(deps: Deps, ban: str, method_id: str, body: Any) -> dict:
    """POST /accounts/{ban}/methods/{method_id}/validation {amounts: ["0.12", "0.34"]}: the
    two micro-entry amounts the member saw on their statement. Right: validated, the
    account's debits go in the next file. Wrong: one try spent (422, tries_left); nothing
    else changes until the last try, which fails the validation."""
    raw = body.get("amounts") if isinstance(body, dict) else None
    typed = [rules.parse_cents(a) for a in raw] if isinstance(raw, list) and len(raw) == 2 else None
    if typed is None or any(t is None for t in typed):
        raise InvalidInput({"amounts": "Enter the two amounts under $1.00, for example 0.12."})
    today = deps.today()
    async with deps.pool.acquire() as conn, conn.transaction():
        method, v = await _of(conn, ban, method_id, lock=True)
        if v["kind"] != "micro_entries" or v["status"] != "sent" or today < v["effective_date"]:
            raise NoValidation()
        answer = rules.check_amounts(v["micro_cents"], [t for t in typed if t is not None], v["tries"])
        if answer.matched:
            v = await store.set_status(conn, v["validation_id"], "validated", tries=answer.tries)
            await events.enqueue(conn, events.validated(v, method, today))
            return view(v, today)
        if answer.exhausted:
            await store.set_tries(conn, v["validation_id"], answer.tries)
            await _fail(conn, today, await store.latest_of_method(conn, v["method_id"]),
                        "tries_exhausted", None)
            failed = await store.latest_of_method(conn, v["method_id"])
            return view(failed, today)
        await store.set_tries(conn, v["validation_id"], answer.tries)
    raise InvalidInput({"amounts": f"These are not the amounts we sent. Tries left: {answer.tries_left}."},
                       )
