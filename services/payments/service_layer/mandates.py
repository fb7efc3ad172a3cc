"""Recurring payments: the mandate (with its NACHA WEB authorization record), created and
cancelled at any time, one active per billing account."""
from __future__ import annotations

from datetime import date
from typing import Any

import asyncpg

from services.payments.adapters import repository as repo
from services.payments.domain import schedule
from services.payments.domain.methods import InvalidInput, parse_bank_account
from services.payments.service_layer import events
from services.payments.service_layer.deps import Deps
from services.payments.service_layer.errors import invalid, unknown_account
from services.payments.service_layer.methods import save_bank_account
from services.payments.service_layer.submissions import parse_contact, replay, request_hash
from shared.http import ApiError

# The terms the member agrees to, in their language (en, es), shown before the set-up is
# submitted and sent with its confirmation; the record kept adds the account they were
# given for (ACCOUNT).
TERMS = {
    "en": (
        "I authorize {program} to debit the bank account I give for automatic payments on day "
        "{day} of each month, or the next banking day when that day is not one, for the total "
        "amount owed then on billing account {ban}. This authorization stays in effect until I "
        "cancel it, which I may do at any time on this site; a cancellation applies to every "
        "draft not yet made. I may also revoke it through my bank."),
    "es": (
        "Autorizo a {program} a debitar la cuenta bancaria que indico para pagos automáticos el "
        "día {day} de cada mes, o el siguiente día hábil bancario cuando ese día no lo sea, por "
        "el total que se deba entonces en la cuenta de facturación {ban}. Esta autorización sigue "
        "vigente hasta que yo la cancele, lo que puedo hacer en cualquier momento en este sitio; "
        "una cancelación se aplica a todos los débitos aún no realizados. También puedo revocarla "
        "a través de mi banco."),
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


def _exists() -> ApiError:
    return ApiError(409, "autopay_exists", "This account already has a recurring payment. "
                    "Cancel it first to set up a new one.")


async def create_mandate(conn: asyncpg.Connection, deps: Deps, ban: str, plan_type: str,
                         method: asyncpg.Record, contact: dict, member_id: str | None,
                         client_ip: str | None, key: str | None, today: date,
                         read_in: str | None = None) -> asyncpg.Record:
    """`read_in`: the language the member read the terms in, when it is not the language of
    their messages (a member whose profile says English reading the Spanish page)."""
    s = deps.settings
    lang = terms_language(read_in or contact.get("language"))
    text = authorization_record(s, ban, method, lang)
    mandate = await repo.insert_mandate(
        conn, mandate_id=events.new_id(), confirmation_number=schedule.mandate_confirmation_number(),
        billing_account_number=ban, plan_type=plan_type,
        method_id=method["method_id"], contact=contact, member_id=member_id,
        authorization_text=text, authorized_at=deps.clock(), authorized_ip=client_ip,
        authorized_method_last4=method["last4"], idempotency_key=key)
    if mandate is None:
        raise _exists()
    await events.enqueue(conn, events.autopay_created(
        mandate, method, schedule.next_draft_date(today, s.autopay_day),
        authorization_terms(s, ban, lang)))
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


async def create_autopay(deps: Deps, ban: str, body: Any, client_ip: str | None) -> tuple[int, dict]:
    """POST /accounts/{ban}/autopay: once per idempotency key, like payments."""

    today = deps.today()
    errors: dict[str, str] = {}
    body = body if isinstance(body, dict) else {}
    key = body.get("idempotency_key")
    if not isinstance(key, str) or not key.strip() or len(key) > 200:
        errors["idempotency_key"] = "idempotency_key is required."
    contact = parse_contact(body.get("contact"), errors)
    read_in = body.get("terms_language")
    if read_in is not None and read_in not in ("en", "es"):
        errors["terms_language"] = "terms_language is en or es."
    raw = body.get("method") if isinstance(body.get("method"), dict) else {}
    try:
        if raw.get("type") == "card":
            raise InvalidInput({"method.type": "Recurring payments are drawn from a checking or savings account."})
        if errors:
            raise InvalidInput(errors)
        account = parse_bank_account(raw)
    except InvalidInput as exc:
        raise invalid(InvalidInput({**errors, **exc.fields})) from None
    req_hash = request_hash(deps, "autopay:" + ban, body)
    async with deps.pool.acquire() as conn, conn.transaction():
        if not await repo.claim_key(conn, key, "autopay", req_hash):
            return replay(await repo.get_key(conn, key), req_hash)
        owed = await repo.get_owed(conn, ban)
        if owed is None:
            raise unknown_account()
        if await repo.active_mandate(conn, ban) is not None:
            raise _exists()
        try:
            method = await save_bank_account(conn, deps, ban, account)
        except InvalidInput as exc:
            raise invalid(exc) from None
        member_id = body.get("member_id") if isinstance(body.get("member_id"), str) else None
        await create_mandate(conn, deps, ban, owed["plan_type"], method, contact, member_id,
                             body.get("client_ip") or client_ip, key, today, read_in)
        answer = mandate_view(await repo.active_mandate(conn, ban), today, deps.settings.autopay_day)
        await repo.store_answer(conn, key, 201, answer)
    return 201, answer


async def get_autopay(deps: Deps, ban: str) -> dict:
    async with deps.pool.acquire() as conn:
        m = await repo.active_mandate(conn, ban)
        in_flight = await repo.drafts_in_flight(conn, m["mandate_id"]) if m else []
    if m is None:
        raise ApiError(404, "no_autopay", "This account has no recurring payment.")
    return {**mandate_view(m, deps.today(), deps.settings.autopay_day),
            "drafts_in_flight": [events.draft_of(p).to_data() for p in in_flight]}


async def cancel_autopay(deps: Deps, ban: str, reason: str = "member_request") -> dict:
    async with deps.pool.acquire() as conn, conn.transaction():
        m = await repo.active_mandate(conn, ban)
        cancelled = await repo.cancel_mandate(conn, m["mandate_id"], reason) if m else None
        if cancelled is None:
            raise ApiError(404, "no_autopay", "This account has no recurring payment.")
        # A draft already made is on its way to the bank: cancelling stops only the next ones.
        in_flight = await repo.drafts_in_flight(conn, cancelled["mandate_id"])
        await events.enqueue(conn, events.autopay_cancelled(cancelled, reason, in_flight))
    return {"status": "cancelled", "mandate_id": str(cancelled["mandate_id"]),
            "confirmation_number": cancelled["confirmation_number"],
            "drafts_in_flight": [events.draft_of(p).to_data() for p in in_flight]}


async def change_autopay_method(deps: Deps, ban: str, body: Any, client_ip: str | None) -> dict:
    """PUT /accounts/{ban}/autopay/method: the member's new bank account for the next drafts.
    A new authorization record is kept (the text, time, IP and last four of the new
    account); `method.updated` tells subscribers the account's method changed and
    `autopay.updated` (with the mandate's contact and the next draft date) is what the
    member's confirmation message is made from."""

    today = deps.today()
    raw = body.get("method") if isinstance(body, dict) and isinstance(body.get("method"), dict) else {}
    try:
        if raw.get("type") == "card":
            raise InvalidInput({"method.type": "Recurring payments are drawn from a checking or savings account."})
        account = parse_bank_account(raw)
    except InvalidInput as exc:
        raise invalid(exc) from None
    async with deps.pool.acquire() as conn, conn.transaction():
        current = await repo.active_mandate(conn, ban)
        if current is None:
            raise ApiError(404, "no_autopay", "This account has no recurring payment.")
        try:
            method = await save_bank_account(conn, deps, ban, account)
        except InvalidInput as exc:
            raise invalid(exc) from None
        if method["method_id"] != current["method_id"]:
            text = authorization_record(deps.settings, ban, method,
                                        events.contact_of(current["contact"]).language)
            await repo.change_mandate_method(conn, current["mandate_id"], method["method_id"], text,
                                             deps.clock(), (body or {}).get("client_ip") or client_ip,
                                             method["last4"])
            await events.enqueue(conn, events.method_updated(method, "active", "autopay_method_changed"),
                                 events.autopay_updated(current, method,
                                                        schedule.next_draft_date(today, deps.settings.autopay_day)))
        mandate = await repo.active_mandate(conn, ban)
    return mandate_view(mandate, today, deps.settings.autopay_day)
