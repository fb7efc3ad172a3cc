"""Recurring payments: the mandate (with its NACHA WEB authorization record), created and
cancelled at any time, one active per billing account."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg

from services.payments.adapters import repository as repo
from services.payments.domain import schedule
from services.payments.domain.methods import parse_bank_account
from services.payments.service_layer import autopay_notices, events
from services.payments.service_layer.deps import Deps
from services.payments.service_layer.errors import AutopayExists, NoAutopay, UnknownAccount
from services.payments.service_layer.methods import save_bank_account
from services.payments.service_layer.submissions import Answer, replay, request_hash, store

# The terms the member agrees to, in their language (en, es), shown before the set-up is
# submitted and sent with its confirmation; the record kept adds the account they were
# given for (ACCOUNT).
TERMS = {
    "en": (
        "I authorize {program} to debit the bank account I give for automatic payments on day "
        "{day} of each month, or the next banking day when that day is not one, for the total "
        "amount owed then on billing account {ban}. This authorization stays in effect until I "
        "cancel it, which I may do at any time on this site; a cancellation made at least 3 "
        "banking days before a draft stops that draft and every later one, and a later "
        "cancellation stops the drafts after it. When an amount differs from the previous "
        "draft, I will be told the amount and date at least 10 days before it. I may also "
        "revoke it through my bank."),
    "es": (
        "Autorizo a {program} a debitar la cuenta bancaria que indico para pagos automáticos el "
        "día {day} de cada mes, o el siguiente día hábil bancario cuando ese día no lo sea, por "
        "el total que se deba entonces en la cuenta de facturación {ban}. Esta autorización sigue "
        "vigente hasta que yo la cancele, lo que puedo hacer en cualquier momento en este sitio; "
        "una cancelación hecha al menos 3 días hábiles bancarios antes de un débito detiene ese "
        "débito y todos los siguientes, y una cancelación posterior detiene los débitos que le "
        "siguen. Cuando un monto sea distinto del débito anterior, se me informará el monto y la "
        "fecha al menos 10 días antes. También puedo revocarla a través de mi banco."),
}
ACCOUNT = {"en": " Account: {type} ending in {last4} (routing number {routing}).",
           "es": " Cuenta: {type} que termina en {last4} (número de ruta {routing})."}
ACCOUNT_TYPES = {"es": {"checking": "cuenta corriente", "savings": "cuenta de ahorros"}}


def terms_language(language: Any) -> str:
    return language if language in TERMS else "en"


def authorization_terms(settings: Any, ban: str, language: str = "en") -> str:
    return TERMS[terms_language(language)].format(
        program=settings.program.replace("_", " ").title(), day=settings.autopay_day, ban=ban)


def authorization_record(settings: Any, ban: str, method: Any, language: str = "en") -> str:
    """The NACHA WEB authorization kept with the mandate: the terms and the account, in the
    language the member read them in."""
    lang = terms_language(language)
    kind = ACCOUNT_TYPES.get(lang, {}).get(method["type"], method["type"])
    return authorization_terms(settings, ban, lang) + ACCOUNT[lang].format(
        type=kind, last4=method["last4"], routing=method["routing_number"])


def terms_view(deps: Deps, ban: str, language: str = "en") -> dict[str, Any]:
    """What a recurring set-up will do, for the page before it is submitted."""
    s = deps.settings
    lang = terms_language(language)
    return {"authorization_text": authorization_terms(s, ban, lang), "language": lang,
            "draft_day": s.autopay_day,
            "first_draft_date": schedule.next_draft_date(deps.today(), s.autopay_day).isoformat()}


async def create_mandate(conn: asyncpg.Connection, deps: Deps, ban: str, plan_type: str,
                         method: asyncpg.Record, contact: dict, member_id: str | None,
                         client_ip: str | None, key: str | None, today: date,
                         read_in: str | None = None,
                         notice_range: tuple[int, int] | None = None) -> asyncpg.Record:
    """`read_in`: the language the member read the terms in, when it is not the language of
    their messages (a member whose profile says English reading the Spanish page);
    `notice_range`: (low, high) cents, when the member asked to hear of a draft only when
    it falls outside them (Regulation E)."""
    s = deps.settings
    lang = terms_language(read_in or contact.get("language"))
    text = authorization_record(s, ban, method, lang)
    ranged = {"notice_low_cents": notice_range[0], "notice_high_cents": notice_range[1]} \
        if notice_range else {}
    mandate = await repo.insert_mandate(
        conn, mandate_id=events.new_id(), confirmation_number=schedule.mandate_confirmation_number(),
        billing_account_number=ban, plan_type=plan_type,
        method_id=method["method_id"], contact=contact, member_id=member_id,
        authorization_text=text, authorized_at=deps.clock(), authorized_ip=client_ip,
        authorized_method_last4=method["last4"], idempotency_key=key, **ranged)
    if mandate is None:
        raise AutopayExists()
    first_draft_cents = await autopay_notices.state_first_draft(conn, deps, mandate, today)
    await events.enqueue(conn, events.autopay_created(
        mandate, method, schedule.next_draft_date(today, s.autopay_day),
        authorization_terms(s, ban, lang), first_draft_cents))
    return mandate


def mandate_view(m: asyncpg.Record, today: date, day: int) -> dict[str, Any]:
    method = {"type": m["type"], "last4": m["last4"]}
    if m["brand"]:
        method["brand"] = m["brand"]
    return {"mandate_id": str(m["mandate_id"]), "confirmation_number": m["confirmation_number"],
            "status": m["status"], "method": method, "draft_day": day,
            "next_draft_date": schedule.next_draft_date(today, day).isoformat()
            if m["status"] == "active" else None,
            "created_at": m["created_at"].isoformat(),
            "authorization": {"text": m["authorization_text"],
                              "authorized_at": m["authorized_at"].isoformat(),
                              "method_last4": m["authorized_method_last4"]}}


@dataclass(frozen=True)
class AutopayRequest:
    """A recurring set-up as the member asked for it, its fields checked
    (entrypoints/schemas.py)."""

    key: str
    method: dict  # as typed: a bank account, parsed here
    contact: dict
    terms_language: str | None  # the language the terms were read in, when given
    member_id: str | None
    client_ip: str | None
    body: dict  # the body as sent, which the idempotency key's hash covers
    notice_range: tuple[int, int] | None = None  # (low, high) cents: notices outside only


async def create_autopay(deps: Deps, ban: str, req: AutopayRequest) -> Answer:
    """POST /accounts/{ban}/autopay: once per idempotency key, like payments."""

    today = deps.today()
    account = parse_bank_account(req.method)
    req_hash = request_hash(deps, "autopay:" + ban, req.body)
    async with deps.pool.acquire() as conn, conn.transaction():
        if not await repo.claim_key(conn, req.key, "autopay", req_hash):
            return replay(await repo.get_key(conn, req.key), req_hash)
        owed = await repo.get_owed(conn, ban)
        if owed is None:
            raise UnknownAccount()
        if await repo.active_mandate(conn, ban) is not None:
            raise AutopayExists()
        method = await save_bank_account(conn, deps, ban, account, req.contact)
        await create_mandate(conn, deps, ban, owed["plan_type"], method, req.contact, req.member_id,
                             req.client_ip, req.key, today, req.terms_language, req.notice_range)
        answer = Answer(mandate_view(await repo.active_mandate(conn, ban), today,
                                     deps.settings.autopay_day))
        await store(conn, req.key, answer)
    return answer


async def get_autopay(deps: Deps, ban: str) -> dict:
    async with deps.pool.acquire() as conn:
        view = await autopay_view(conn, deps, ban)
    if view is None:
        raise NoAutopay()
    return view


async def autopay_view(conn: asyncpg.Connection, deps: Deps, ban: str) -> dict | None:
    """The account's active mandate as `GET /accounts/{ban}/autopay` answers it, with the
    drafts on their way; None when it has none."""
    m, in_flight = await repo.standing(conn, ban)
    return autopay_answer(deps, m, in_flight)


def autopay_answer(deps: Deps, m: asyncpg.Record | None, in_flight: list[dict]) -> dict | None:
    """The autopay answer of mandate `m` (None for none) given the account's payments on
    their way (`repository.standing`): its own drafts among them still happen."""
    if m is None:
        return None
    today, day = deps.today(), deps.settings.autopay_day
    return {**mandate_view(m, today, day),
            "drafts_in_flight": [events.draft_of(p).to_data() for p in in_flight
                                 if p["mandate_id"] == m["mandate_id"]],
            "cancellation": autopay_notices.cancellation_view(today, day),
            "notice_range": autopay_notices.notice_range_view(m)}


async def cancel_autopay(deps: Deps, ban: str, reason: str = "member_request") -> dict:
    async with deps.pool.acquire() as conn, conn.transaction():
        m = await repo.active_mandate(conn, ban)
        # Past the cut-off (Regulation E), the upcoming draft still happens: made now.
        still = await autopay_notices.draft_past_cut_off(conn, deps, m, deps.today()) if m else []
        cancelled = await repo.cancel_mandate(conn, m["mandate_id"], reason) if m else None
        if cancelled is None:
            raise NoAutopay()
        await events.enqueue(conn, *still)
        # A draft already made is on its way to the bank: cancelling stops only the next ones.
        in_flight = await repo.drafts_in_flight(conn, cancelled["mandate_id"])
        await events.enqueue(conn, events.autopay_cancelled(cancelled, reason, in_flight))
    return {"status": "cancelled", "mandate_id": str(cancelled["mandate_id"]),
            "confirmation_number": cancelled["confirmation_number"],
            "drafts_in_flight": [events.draft_of(p).to_data() for p in in_flight]}


async def change_autopay_method(deps: Deps, ban: str, raw: dict, client_ip: str | None) -> dict:
    """PUT /accounts/{ban}/autopay/method: the member's new bank account for the next drafts.
    A new authorization record is kept (the text, time, IP and last four of the new
    account); `method.updated` tells subscribers the account's method changed and
    `autopay.updated` (with the mandate's contact and the next draft date) is what the
    member's confirmation message is made from. `raw`: the bank account as typed (a
    card is refused before: entrypoints/schemas.py)."""

    today = deps.today()
    account = parse_bank_account(raw)
    async with deps.pool.acquire() as conn, conn.transaction():
        current = await repo.active_mandate(conn, ban)
        if current is None:
            raise NoAutopay()
        method = await save_bank_account(conn, deps, ban, account,
                                         events.contact_of(current["contact"]).to_data())
        if method["method_id"] != current["method_id"]:
            text = authorization_record(deps.settings, ban, method,
                                        events.contact_of(current["contact"]).language)
            await repo.change_mandate_method(conn, current["mandate_id"], method["method_id"], text,
                                             deps.clock(), client_ip, method["last4"])
            await events.enqueue(conn, events.method_updated(method, "active", "autopay_method_changed"),
                                 events.autopay_updated(current, method,
                                                        schedule.next_draft_date(today, deps.settings.autopay_day)))
        mandate = await repo.active_mandate(conn, ban)
    return mandate_view(mandate, today, deps.settings.autopay_day)
