"""GATEWAY-UNIT TEST DOUBLES: small fake upstream servers speaking the internal HTTP APIs of
docs/internal-api.md, so the gateway's own logic (error mapping, partial answers, token
binding, CSRF, headers, CAPTCHA) can be checked in isolation. The end-to-end and browser
tests (tests/browser/) run the real services instead."""
from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from shared.http import error_response, json_response
from shared.money import parse_amount

BODY: web.RequestKey[Any] = web.RequestKey("body")

BAN_A = "7000000013"
BAN_B = "7000000021"
BAN_NOT_OPEN = "7000000096"  # identity knows it; billing has not opened it yet
THROTTLED_ID = "3300999998"   # identity answers 429 for it, retry in 290 s
SSN = "123456789"
SLOW_HASH_USER = "slow.hasher"  # identity takes SLOW_HASH_S to register it, past the usual timeout
SLOW_HASH_S = 2.5
MEMBER = {"first_name": "Maria", "last_name": "Santos", "date_of_birth": "1984-03-15"}


# The JSON body a fake service was sent, read once by the recording middleware.
BODY: web.RequestKey[Any] = web.RequestKey("body")


@dataclass
class Upstream:
    """The state of the fake services; tests flip `down` to stop one and put a path in
    `slow` (path -> seconds) to have it answer that much later."""
    down: set[str] = field(default_factory=set)
    slow: dict[str, float] = field(default_factory=dict)
    seen: list[tuple[str, str, Any, Any]] = field(default_factory=list)
    payments: dict[str, dict] = field(default_factory=dict)   # idempotency key -> (body, result)
    autopay: dict[str, dict] = field(default_factory=dict)
    users: dict[str, dict] = field(default_factory=dict)
    cards_enabled: bool = False
    payment_without_account: bool = False  # a payment record that does not name its account
    total_balance_cents: int = 19_300  # what billing says is owed on either account
    account_extra: dict[str, Any] = field(default_factory=dict)  # more of billing's account answer
    member_phone: str | None = "6175550101"  # the member's phone on file (None: none given)
    refunds: dict[str, tuple[dict, dict]] = field(default_factory=dict)  # key -> (body, refund)
    # Saved methods by account, and micro-entry validations by method id: {status,
    # can_confirm, tries_left, cents: [a, b]} (payments' rules: docs/internal-api.md).
    methods: dict[str, list[dict]] = field(default_factory=dict)
    validations: dict[str, dict] = field(default_factory=dict)
    # payments' PAYMENTS_ACCOUNT_VALIDATION (/config), and what a payment from a new bank
    # account answers about its validation (None: nothing).
    account_validation: str = "none"
    new_account_validation: dict | None = None
    binder_deadline: dict | None = None  # the answer of a binder sent sooner to meet its due date
    refund_fails: bool = False  # the processor refuses the card refund: answered "failed"
    refunds_behind: int = 0  # refund requests answered as if payments had not heard of the credit yet


def _record(state: Upstream, service: str):
    @web.middleware
    async def mw(request: web.Request, handler):
        body = await request.json() if request.can_read_body else None
        state.seen.append((service, f"{request.method} {request.path}", request.headers.copy(), body))
        if service in state.down:
            return error_response(503, "unavailable", "down")
        if request.path in state.slow:
            await asyncio.sleep(state.slow[request.path])
        request[BODY] = body
        return await handler(request)
    return mw


def identity_app(state: Upstream) -> web.Application:
    app = web.Application(middlewares=[_record(state, "identity")])

    def match(b: dict) -> str | None:
        names_ok = (b["first_name"].lower(), b["last_name"].lower(), b["date_of_birth"]) == \
            (MEMBER["first_name"].lower(), MEMBER["last_name"].lower(), MEMBER["date_of_birth"])
        if not names_ok:
            return None
        return {("ssn", SSN): BAN_A, ("billing_account_number", BAN_A): BAN_A,
                ("billing_account_number", BAN_B): BAN_B,
                ("enrollment_id", "3300100001"): BAN_A,
                ("enrollment_id", "3300100009"): BAN_NOT_OPEN}.get((b["id_type"], b["id_value"]))

    async def lookups(request: web.Request) -> web.Response:
        b = request[BODY]
        if b["id_value"] == "3300999999":
            return error_response(409, "not_yet_payable", "Shopped less than 4 hours ago.",
                                  payable_at="2030-01-01T15:00:00+00:00")
        if b["id_value"] == THROTTLED_ID:
            return error_response(429, "throttled", "Too many attempts.", retry_after_s=290)
        ban = match(b)
        if ban is None:
            return error_response(404, "not_found", "We could not find a match.")
        return json_response({"member_id": "m-1", "billing_account_number": ban, "plan_type": b["plan_type"],
                              "enrollment_ids": ["3300100001"], "first_name": "Maria",
                              "contact": {"email": "maria@example.org", "phone": "6175550101", "language": "en"}})

    async def members(request: web.Request) -> web.Response:
        b = request[BODY]
        if match(b) is None:
            return error_response(404, "not_found", "We could not find a match.")
        if b["username"] in state.users:
            return error_response(409, "username_taken", "Taken.")
        if b["username"] == SLOW_HASH_USER:  # hashing the password on a busy machine
            await asyncio.sleep(SLOW_HASH_S)
        state.users[b["username"]] = {"password": b["password"], "member_id": "m-1"}
        return json_response({"member_id": "m-1", "username": b["username"]}, status=201)

    async def sessions(request: web.Request) -> web.Response:
        b = request[BODY]
        user = state.users.get(b["username"])
        if b["username"] == "paused-user":
            return error_response(429, "throttled", "Too many attempts.", retry_after_s=120)
        if not user or user["password"] != b["password"]:
            return error_response(401, "invalid_credentials", "Wrong username or password.")
        return json_response({"member_id": user["member_id"], "username": b["username"]})

    async def member(request: web.Request) -> web.Response:
        return json_response({"member_id": request.match_info["id"], "username": "maria", **MEMBER,
                              "accounts": [{"billing_account_number": BAN_A, "plan_type": "health"}],
                              "contact": {"email": "maria@example.org", "phone": state.member_phone,
                                          "language": "en", "email_enabled": True, "sms_enabled": False}})

    async def accepted(_: web.Request) -> web.Response:
        return json_response({"status": "accepted"}, status=202)

    app.router.add_post("/lookups", lookups)
    app.router.add_post("/members", members)
    app.router.add_post("/sessions", sessions)
    app.router.add_get("/members/{id}", member)
    app.router.add_patch("/members/{id}/contact", member)
    async def reset_check(request: web.Request) -> web.Response:
        return json_response({"state": {"used-token": "used", "old-token": "expired"}.get(
            request[BODY]["token"], "usable")})

    app.router.add_post("/password-resets", accepted)
    app.router.add_post("/password-resets/check", reset_check)
    app.router.add_post("/username-reminders", accepted)
    return app


def billing_app(state: Upstream) -> web.Application:
    app = web.Application(middlewares=[_record(state, "billing")])

    async def account(request: web.Request) -> web.Response:
        ban = request.match_info["ban"]
        if ban not in (BAN_A, BAN_B):
            return error_response(404, "not_found", "No such account.")
        return json_response({
            "billing_account_number": ban, "household_id": "HH-1", "plan_type": "health",
            "status": "active", "total_balance_cents": state.total_balance_cents, "pending_payments_cents": 0, "credit_cents": 0,
            "lines": [{"coverage_year": 2030, "plan_name": "Plan 2B", "carrier": "Tufts",
                       "balance_cents": 9_400, "current_premium_cents": 9_400, "due_date": "2030-12-23", "status": "due"},
                      {"coverage_year": 2031, "plan_name": "Plan 2B", "carrier": "Tufts",
                       "balance_cents": 9_900, "current_premium_cents": 9_900, "due_date": "2030-12-23", "status": "due"}],
            "delinquency": None, "payment_plan": None, **state.account_extra})

    async def invoices(_: web.Request) -> web.Response:
        return json_response({"invoices": [
            {"invoice_id": "i-1", "kind": "binder", "coverage_year": 2030, "coverage_month": "2030-12",
             "amount_cents": 9_400, "paid_cents": 0, "due_date": "2030-11-23", "status": "open"},
            {"invoice_id": "i-2", "kind": "monthly", "coverage_year": 2031, "coverage_month": 1,
             "amount_cents": 9_900, "paid_cents": 9_900, "due_date": "2030-12-23", "status": "paid"}]})

    async def statement(request: web.Request) -> web.Response:
        ban = request.match_info["ban"]
        return json_response({
            "account": {"billing_account_number": ban, "plan_type": "health"},
            "month": request.match_info["month"], "opening_cents": 0,
            "entries": [{"date": "2030-11-02", "kind": "invoice", "coverage_month": "2030-12",
                         "amount_cents": 9_900},
                        {"date": "2030-11-20", "kind": "payment", "coverage_month": "2030-12",
                         "amount_cents": -5_850}],
            "closing_cents": 4_050})

    app.router.add_get("/accounts/{ban}", account)
    app.router.add_get("/accounts/{ban}/invoices", invoices)
    app.router.add_get("/accounts/{ban}/statements/{month}", statement)
    return app


def payments_app(state: Upstream) -> web.Application:
    app = web.Application(middlewares=[_record(state, "payments")])

    async def config(_: web.Request) -> web.Response:
        return json_response({"cards_enabled": state.cards_enabled, "program": "Health Connector",
                              "account_validation": state.account_validation})

    async def pay(request: web.Request) -> web.Response:
        b = request[BODY]
        key = b["idempotency_key"]
        if key in state.payments:
            first_body, result = state.payments[key]
            if first_body != b:
                return error_response(409, "idempotency_conflict", "Same key, other body.")
            return json_response(result, status=200)
        result = {"payment_id": str(uuid.uuid4()), "confirmation_number": f"HC{len(state.payments) + 1:08d}",
                  "status": "submitted", "amount_cents": 19_300 if b["amount"] == "total" else 5_000,
                  "expected_withdrawal_date": "2030-12-05", "billing_account_number": b["billing_account_number"]}
        if state.new_account_validation:
            result["account_validation"] = state.new_account_validation
        if state.binder_deadline:
            result["binder_deadline"] = state.binder_deadline
            result["expected_withdrawal_date"] = state.binder_deadline["due_date"]
        state.payments[key] = (b, result)
        return json_response(result, status=201)

    async def get_payment(request: web.Request) -> web.Response:
        for _, result in state.payments.values():
            if result["payment_id"] == request.match_info["id"]:
                if state.payment_without_account:
                    return json_response({k: v for k, v in result.items() if k != "billing_account_number"})
                return json_response(result)
        return error_response(404, "not_found", "No such payment.")

    async def history(request: web.Request) -> web.Response:
        ban = request.match_info["ban"]
        return json_response({"payments": [r for _, r in state.payments.values()
                                           if r["billing_account_number"] == ban]})

    async def get_autopay(request: web.Request) -> web.Response:
        mandate = state.autopay.get(request.match_info["ban"])
        return json_response(mandate) if mandate else error_response(404, "no_autopay", "None.")

    async def post_autopay(request: web.Request) -> web.Response:
        ban = request.match_info["ban"]
        if ban in state.autopay:
            return error_response(409, "autopay_exists", "Exists.")
        state.autopay[ban] = {"mandate_id": "md-1", "status": "active", "next_draft_date": "2030-12-22",
                              "method": {"type": request[BODY]["method"]["type"], "last4": "6789"},
                              "created_at": "2030-11-20T10:00:00Z"}
        return json_response(state.autopay[ban], status=201)

    async def put_autopay_method(request: web.Request) -> web.Response:
        mandate = state.autopay.get(request.match_info["ban"])
        if not mandate:
            return error_response(404, "no_autopay", "None.")
        mandate["method"] = {"type": request[BODY]["method"]["type"],
                             "last4": request[BODY]["method"]["account_number"][-4:]}
        return json_response(mandate)

    async def delete_autopay(request: web.Request) -> web.Response:
        if state.autopay.pop(request.match_info["ban"], None) is None:
            return error_response(404, "no_autopay", "None.")
        return json_response({"status": "cancelled"})

    async def terms(request: web.Request) -> web.Response:
        ban, lang = request.match_info["ban"], request.query.get("language", "en")
        text = f"Autorizo débitos para {ban}." if lang == "es" else f"I authorize debits for {ban}."
        return json_response({"authorization_text": text, "language": lang,
                              "draft_day": 22, "first_draft_date": "2030-12-22"})

    async def owed(request: web.Request) -> web.Response:
        return json_response({"total_balance_cents": 19_300, "lines": []})

    async def methods(request: web.Request) -> web.Response:
        return json_response({"methods": state.methods.get(request.match_info["ban"], [])})

    def validation_view(v: dict) -> dict:
        return {"kind": "micro_entries", "status": v["status"], "can_confirm": v["can_confirm"],
                "tries_left": v["tries_left"], "requested_on": "2030-12-02",
                "entries_arrive_on": "2030-12-03", "debits_from": None}

    async def get_validation(request: web.Request) -> web.Response:
        v = state.validations.get(request.match_info["method_id"])
        return json_response(validation_view(v)) if v else error_response(409, "no_validation", "None.")

    async def post_validation(request: web.Request) -> web.Response:
        v = state.validations.get(request.match_info["method_id"])
        if not v or v["status"] != "sent" or not v["can_confirm"]:
            return error_response(409, "no_validation", "None.")
        typed = sorted(int(a.split(".")[-1]) for a in request[BODY]["amounts"])
        if typed == sorted(v["cents"]):
            v["status"] = "validated"
            return json_response(validation_view(v))
        v["tries_left"] -= 1
        if v["tries_left"] == 0:
            v["status"] = "failed"
            return json_response(validation_view(v))
        return error_response(422, "invalid_input", "Wrong.", fields={"amounts": "Tries left."})

    def pending_of(ban: str) -> dict:
        mine = [r for _, r in state.payments.values()
                if r["billing_account_number"] == ban and r["status"] == "submitted"]
        return {"pending_total_cents": sum(r["amount_cents"] for r in mine),
                "payments": [{"payment_id": r["payment_id"], "amount_cents": r["amount_cents"],
                              "expected_withdrawal_date": r["expected_withdrawal_date"],
                              "attempt": 1} for r in mine]}

    async def standing(request: web.Request) -> web.Response:
        ban = request.match_info["ban"]
        return json_response({"autopay": state.autopay.get(ban), "pending": pending_of(ban)})

    async def post_refund(request: web.Request) -> web.Response:
        """As payments answers: once per key, never more than billing's credit."""
        b = request[BODY]
        if b["idempotency_key"] in state.refunds:
            first, result = state.refunds[b["idempotency_key"]]
            if first != b:
                return error_response(409, "idempotency_conflict", "Same key, other body.")
            return json_response(result, status=200)
        credit = int(state.account_extra.get("credit_cents", 0)) - sum(
            r["amount_cents"] for _, r in state.refunds.values())
        if state.refunds_behind > 0:  # its copy of billing's balance is still catching up
            state.refunds_behind -= 1
            credit = 0
        cents = credit if b["amount"] == "credit" else parse_amount(b["amount"])
        if cents > credit or credit <= 0:
            return error_response(409, "refund_over_credit", "More than the credit.", available_cents=credit)
        result = {"refund_id": str(uuid.uuid4()), "confirmation_number": f"RFD-{len(state.refunds) + 1:04d}",
                  "billing_account_number": request.match_info["ban"], "amount_cents": cents,
                  "status": "failed" if state.refund_fails else "pending_approval" if cents > 50_000 else "approved",
                  "method": {"type": "checking", "last4": "6789"}, "requested_on": "2030-12-01",
                  "effective_date": None, "issued_on": None, "returned_on": None, "return_code": None}
        state.refunds[b["idempotency_key"]] = (b, result)
        return json_response(result, status=201)

    async def refunds(request: web.Request) -> web.Response:
        ban = request.match_info["ban"]
        return json_response({"refunds": [r for _, r in reversed(list(state.refunds.values()))
                                          if r["billing_account_number"] == ban]})

    app.router.add_post("/accounts/{ban}/refunds", post_refund)
    app.router.add_get("/accounts/{ban}/refunds", refunds)
    app.router.add_get("/config", config)
    app.router.add_post("/payments", pay)
    app.router.add_get("/payments/{id}", get_payment)
    app.router.add_get("/accounts/{ban}/payments", history)
    app.router.add_get("/accounts/{ban}/autopay", get_autopay)
    app.router.add_get("/accounts/{ban}/autopay/terms", terms)
    app.router.add_post("/accounts/{ban}/autopay", post_autopay)
    app.router.add_delete("/accounts/{ban}/autopay", delete_autopay)
    app.router.add_put("/accounts/{ban}/autopay/method", put_autopay_method)
    app.router.add_get("/accounts/{ban}/owed", owed)
    app.router.add_get("/accounts/{ban}/methods", methods)
    app.router.add_get("/accounts/{ban}/methods/{method_id}/validation", get_validation)
    app.router.add_post("/accounts/{ban}/methods/{method_id}/validation", post_validation)
    app.router.add_get("/accounts/{ban}/standing", standing)
    return app
