"""One-time (and first recurring) payments: POST /payments, exactly once per idempotency key."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg

from services.payments.adapters import repository as repo
from services.payments.adapters import validation_store
from services.payments.adapters.processor import CardToken, ProcessorUnavailable
from services.payments.domain import same_day, schedule
from services.payments.domain.amounts import Line, allocate, resolve_amount
from services.payments.domain.methods import BankAccount, Card, InvalidInput, parse_bank_account, parse_card
from services.payments.domain.payers import Payer
from services.payments.service_layer import account_validation, events, mandates
from services.payments.service_layer.deps import Deps
from services.payments.service_layer.errors import (
    AmountChanged,
    AutopayExists,
    CardsUnavailable,
    UnknownAccount,
)
from services.payments.service_layer.methods import save_bank_account, save_card
from services.payments.service_layer.submissions import Answer, replay, request_hash, store
from shared.errors import error_body


@dataclass(frozen=True)
class PaymentRequest:
    """A payment as the payer asked for it, its fields checked (entrypoints/schemas.py)."""

    key: str
    ban: str
    kind: str  # one_time | recurring
    amount: Any  # "total" or the amount typed; resolved against what is owed
    allocations: list | None
    method: dict  # as typed: parsed by parse_method
    contact: dict
    channel: str  # guest | member
    member_id: str | None
    client_ip: str | None
    body: dict  # the body as sent, which the idempotency key's hash covers
    expected_cents: int | None = None  # the "total" the payer reviewed, when they send it
    payer: Payer = Payer()  # who pays: the member unless a representative or third party


def parse_method(deps: Deps, raw: dict, today: date, recurring: bool) -> BankAccount | Card:
    if raw.get("type") == "card":
        if not deps.settings.cards_enabled:
            raise InvalidInput({"method.type": "Cards are not accepted. Pay from a checking or savings account."})
        if recurring:
            raise InvalidInput({"method.type": "Recurring payments are drawn from a checking or savings account."})
        return parse_card(raw, today)
    return parse_bank_account(raw)


async def submit_payment(deps: Deps, req: PaymentRequest) -> Answer:
    """Creates the payment (and mandate) once per idempotency key; a retry gets the first
    answer (replayed), another body under the same key IdempotencyConflict."""
    today = deps.today()
    method = parse_method(deps, req.method, today, req.kind == "recurring")
    req_hash = request_hash(deps, "payment", req.body)
    async with deps.pool.acquire() as conn:
        existing = await repo.get_key(conn, req.key)
    if existing is not None:
        return replay(existing, req_hash)
    token = None
    if isinstance(method, Card):  # a token alone charges nothing; kept out of the transaction
        try:
            token = await deps.processor.tokenize(method)
        except ProcessorUnavailable:
            raise CardsUnavailable() from None
    async with deps.pool.acquire() as conn:
        async with conn.transaction():
            if not await repo.claim_key(conn, req.key, "payment", req_hash):
                return replay(await repo.get_key(conn, req.key), req_hash)
            answer = await _create(conn, deps, req, method, token, today)
            await store(conn, req.key, answer)
    return answer


async def _create(conn: asyncpg.Connection, deps: Deps, req: PaymentRequest,
                  method: BankAccount | Card, token: CardToken | None, today: date) -> Answer:
    owed = await repo.get_owed(conn, req.ban)
    if owed is None:
        raise UnknownAccount()
    lines = [Line(int(x["coverage_year"]), int(x.get("balance_cents") or 0)) for x in owed["lines"]]
    # What is owed now: billing's balance less the payments still on their way.
    owed_now = owed["total_balance_cents"] - await repo.in_flight_cents(conn, req.ban)
    recurring = req.kind == "recurring"
    if req.amount == "total" and req.expected_cents is not None and req.expected_cents != max(owed_now, 0):
        # The total moved since the payer reviewed it: charge nothing, say what it is now.
        raise AmountChanged(max(owed_now, 0))
    if recurring and req.amount == "total" and owed_now <= 0:
        amount = 0  # a mandate alone: nothing owed today
        allocs: list[dict] = []
    else:
        s = deps.settings
        amount = resolve_amount(req.amount, owed_now, s.overpay_max_cents,
                                s.payment_max_cents)
        allocs = allocate(amount, lines, req.allocations)
    if recurring and await repo.active_mandate(conn, req.ban) is not None:
        raise AutopayExists()
    if isinstance(method, Card):
        assert token is not None
        method_row = await save_card(conn, deps, req.ban, method, token)
    else:
        method_row = await save_bank_account(conn, deps, req.ban, method, req.contact)
    if not recurring:
        return await _pay(conn, deps, req, owed["plan_type"], amount, allocs, method_row, None, today,
                          owed["lines"])
    mandate = await mandates.create_mandate(conn, deps, req.ban, owed["plan_type"], method_row,
                                            req.contact, req.member_id, req.client_ip, req.key, today)
    s = deps.settings
    autopay = {"confirmation_number": mandate["confirmation_number"], "draft_day": s.autopay_day,
               "first_draft_date": schedule.next_draft_date(today, s.autopay_day).isoformat(),
               "authorization_text": mandates.authorization_terms(s, req.ban,
                                                                 req.contact.get("language"))}
    if amount == 0:  # the set-up alone: its own confirmation number, nothing withdrawn today
        return Answer({"payment_id": None, "confirmation_number": mandate["confirmation_number"],
                       "status": "scheduled", "amount_cents": 0, "expected_withdrawal_date": None,
                       "mandate_id": str(mandate["mandate_id"]), "autopay": autopay})
    answer = await _pay(conn, deps, req, owed["plan_type"], amount, allocs, method_row,
                        mandate["mandate_id"], today, owed["lines"])
    return answer if answer.declined else Answer({**answer.body, "autopay": autopay})


async def _pay(conn: asyncpg.Connection, deps: Deps, req: PaymentRequest, plan_type: str,
               amount: int, allocs: list[dict], method_row: asyncpg.Record, mandate_id, today: date,
               owed_lines: list[dict]) -> Answer:
    card = method_row["type"] == "card"
    now = deps.clock()
    after_cutoff = now.hour >= deps.settings.ach_cutoff_hour
    expected = today if card else schedule.one_time_withdrawal_date(today, after_cutoff)
    v = None if card else await validation_store.latest_of_method(conn, method_row["method_id"])
    # A binder that would be withdrawn after its due date goes sooner: the next file, or
    # Same Day ACH; not while the account's validation entries are already out (its debits
    # then wait for the validation to end).
    binder = None if card or (v is not None and v["status"] == "sent") else \
        binder_plan(deps, now, owed_lines, allocs, expected, amount)
    if binder is not None:
        expected = binder.withdrawal
    payment = await repo.insert_payment(
        conn, payment_id=events.new_id(), confirmation_number=schedule.confirmation_number(),
        billing_account_number=req.ban, plan_type=plan_type, kind=req.kind, channel=req.channel,
        rail="card" if card else "ach", amount_cents=amount, allocations=allocs,
        method_id=method_row["method_id"], method_type=method_row["type"],
        method_last4=method_row["last4"], method_brand=method_row["brand"], status="pending",
        submitted_on=today, expected_withdrawal_date=expected, mandate_id=mandate_id,
        contact=req.contact, member_id=req.member_id, payer_kind=req.payer.kind,
        payer_name=req.payer.name, payer_email=req.payer.email,
        same_day_window=binder.slot.window.number if binder and binder.slot else None,
        with_validation=binder is not None and v is not None and v["status"] == "pending")
    if card:
        return await _charge_card(conn, deps, req, payment, method_row, today)
    await events.enqueue(conn, events.submitted(payment))
    body = answer_of(payment)
    if binder is not None:
        assert binder.due_date is not None
        body["binder_deadline"] = {"due_date": binder.due_date.isoformat(),
                                   "same_day_ach": binder.slot is not None}
    if v is not None and v["status"] in validation_store.OPEN:
        # What the member is told: when the account's validation goes and the debit follows.
        body["account_validation"] = (
            account_validation.with_binder(v["kind"], binder) if binder is not None else
            account_validation.first_debit_date(
                v["kind"], today, await validation_store.due_date_of(conn, payment["payment_id"]),
                after_cutoff))
    return Answer(body)


@dataclass(frozen=True)
class BinderPlan(same_day.Plan):
    due_date: date | None = None


def binder_plan(deps: Deps, now: datetime, lines: list[dict], allocs: list[dict], expected: date,
                amount: int) -> BinderPlan | None:
    """A debit paying a binder whose usual withdrawal date is after the binder's due date:
    when it goes instead (domain/same_day.py), or None."""
    years = {a["coverage_year"] for a in allocs}
    dues = [date.fromisoformat(ln["due_date"]) for ln in lines
            if ln.get("binder") and ln.get("due_date") and ln["coverage_year"] in years
            and int(ln.get("balance_cents") or 0) > 0]
    due = min(dues, default=None)
    s = deps.settings
    plan = same_day.plan(now, s.same_day_windows, s.ach_cutoff_hour, binder=due is not None,
                         due_date=due, standard_date=expected, amount_cents=amount)
    if plan is None:
        return None
    return BinderPlan(plan.sent_on, plan.withdrawal, plan.slot, due)


async def _charge_card(conn: asyncpg.Connection, deps: Deps, req: PaymentRequest,
                       payment: asyncpg.Record, method_row: asyncpg.Record, today: date
                       ) -> Answer:
    """Cards are charged now and count as settled the same day (the processor guarantees
    the funds at approval); a decline is recorded as a failed payment and answered as
    declined (the error it is answered with is kept for a retry like any answer)."""
    try:
        result = await deps.processor.charge(method_row["card_token"], payment["amount_cents"],
                                             req.key, f"Premium {req.ban}")
    except ProcessorUnavailable:
        raise CardsUnavailable() from None
    if not result.approved:
        payment = await repo.set_payment(conn, payment["payment_id"], status="failed",
                                         failure_code=result.code,
                                         processor_charge_id=result.charge_id)
        await events.enqueue(conn, events.failed(payment, result.code, result.message))
        return Answer(error_body("card_declined", result.message, reason_code=result.code,
                                 payment_id=str(payment["payment_id"])), declined=True)
    payment = await repo.set_payment(conn, payment["payment_id"], status="settled", settled_on=today,
                                     effective_date=today, processor_charge_id=result.charge_id)
    await events.enqueue(conn, events.submitted(payment), events.settled(payment, today))
    return Answer(answer_of(payment))


def answer_of(p: asyncpg.Record) -> dict[str, Any]:
    out = {"payment_id": str(p["payment_id"]), "confirmation_number": p["confirmation_number"],
           "status": p["status"], "amount_cents": p["amount_cents"],
           "expected_withdrawal_date": p["expected_withdrawal_date"].isoformat()}
    if p["mandate_id"]:
        out["mandate_id"] = str(p["mandate_id"])
    return out
