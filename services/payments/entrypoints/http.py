"""The internal HTTP API the gateway calls (docs/internal-api.md, payments): thin
translators to the use cases."""
from __future__ import annotations

import re
import uuid
from typing import Any

from aiohttp import web

from services.payments.adapters import repository as repo
from services.payments.entrypoints import schemas
from services.payments.service_layer import account_validation, errors, mandates, projection, refunds
from services.payments.service_layer import methods as saved_methods
from services.payments.service_layer.deps import Deps
from services.payments.service_layer.submissions import Answer
from services.payments.service_layer.submit import submit_payment
from shared import http
from shared.errors import InvalidInput
from shared.http import json_response, read_json
from shared.numbers import is_valid_ban
from shared.service_auth import MEMBER_FACING, caller_of, member_address

routes = web.RouteTableDef()
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

# The status of each of the use cases' expected failures (docs/internal-api.md).
STATUSES = {
    InvalidInput: 422, errors.UnknownAccount: 404, errors.UnknownPayment: 404,
    errors.NoAutopay: 404, errors.NoMethod: 404, errors.IdempotencyConflict: 409,
    errors.AmountChanged: 409, errors.AutopayExists: 409, errors.MethodInUse: 409,
    errors.CardsUnavailable: 503, errors.UnknownRefund: 404, errors.RefundOverCredit: 409,
    errors.NoRefundMethod: 409, errors.RefundNotPending: 409, errors.NoValidation: 409,
}
translated = http.translated(STATUSES)


# What the routes use, built when the service starts (app.py).
DEPS = web.AppKey("payments_deps", Deps)


def _deps(request: web.Request) -> Deps:
    return request.app[DEPS]


def _ban(request: web.Request) -> str:
    """The {ban} of the path, checked as billing checks it: a malformed number gets the
    404 of an unknown one."""
    ban = request.match_info["ban"]
    if not is_valid_ban(ban):
        raise errors.UnknownAccount()
    return ban


def _ip(request: web.Request) -> str | None:
    """The member's address recorded with an authorization: the gateway's X-Forwarded-For,
    never another caller's."""
    forwarded = request.headers.get("X-Forwarded-For")
    return member_address(request, forwarded.split(",")[0].strip() if forwarded else None)


async def _member_body(request: web.Request) -> Any:
    """The request's body as the use cases read it: a `client_ip` in it counts only from
    the gateway (from anyone else the connection's address stands)."""
    body = await read_json(request)
    if isinstance(body, dict) and caller_of(request) != MEMBER_FACING:
        body.pop("client_ip", None)
    return body


async def _submission_body(request: web.Request) -> Any:
    """A submission's body; the Idempotency-Key header stands for a key the body lacks."""
    body = await _member_body(request)
    if isinstance(body, dict) and not body.get("idempotency_key") and request.headers.get("Idempotency-Key"):
        body["idempotency_key"] = request.headers["Idempotency-Key"]
    return body


def _answered(answer: Answer) -> web.Response:
    """201 for what a submission made, 200 for its first answer given again to a retry;
    402 for a declined card, the first time and every retry."""
    status = 402 if answer.declined else 200 if answer.replayed else 201
    return json_response(answer.body, status=status)


def payment_view(p: Any) -> dict[str, Any]:
    method = {"type": p["method_type"], "last4": p["method_last4"]}
    if p["method_brand"]:
        method["brand"] = p["method_brand"]
    iso = lambda d: d.isoformat() if d else None  # noqa: E731
    return {"payment_id": str(p["payment_id"]), "confirmation_number": p["confirmation_number"],
            "billing_account_number": p["billing_account_number"], "plan_type": p["plan_type"],
            "kind": p["kind"], "channel": p["channel"], "status": p["status"],
            "amount_cents": p["amount_cents"], "allocations": p["allocations"], "method": method,
            "submitted_on": iso(p["submitted_on"]),
            "expected_withdrawal_date": iso(p["expected_withdrawal_date"]),
            "effective_date": iso(p["effective_date"]), "settled_on": iso(p["settled_on"]),
            "returned_on": iso(p["returned_on"]), "return_code": p["return_code"],
            "failure_code": p["failure_code"], "attempt": p["attempt"],
            "mandate_id": str(p["mandate_id"]) if p["mandate_id"] else None,
            "payer": payer_view(p), "created_at": p["created_at"].isoformat()}


def payer_view(p: Any) -> dict[str, Any]:
    """Who paid: {kind: member} or a third party's {kind, name} (its email is not shown)."""
    if p["payer_kind"] == "member":
        return {"kind": "member"}
    return {"kind": p["payer_kind"], "name": p["payer_name"]}


@routes.get("/config")
async def config(request: web.Request) -> web.Response:
    s = _deps(request).settings
    return json_response({"cards_enabled": s.cards_enabled, "program": s.program,
                          "overpay_max_cents": s.overpay_max_cents,
                          "payment_max_cents": s.payment_max_cents,
                          "account_validation": s.account_validation})


@routes.post("/payments")
@translated
async def post_payment(request: web.Request) -> web.Response:
    req = schemas.payment_request(await _submission_body(request), _ip(request))
    return _answered(await submit_payment(_deps(request), req))


@routes.get("/payments/{payment_id}")
@translated
async def get_payment(request: web.Request) -> web.Response:
    if not _UUID.match(request.match_info["payment_id"].lower()):
        raise errors.UnknownPayment()
    pid = uuid.UUID(request.match_info["payment_id"])
    async with _deps(request).pool.acquire() as conn:
        p = await repo.get_payment(conn, pid)
    if p is None:
        raise errors.UnknownPayment()
    return json_response(payment_view(p))


@routes.get("/accounts/{ban}/payments")
@translated
async def account_payments(request: web.Request) -> web.Response:
    async with _deps(request).pool.acquire() as conn:
        rows = await repo.account_payments(conn, _ban(request))
    return json_response({"payments": [payment_view(p) for p in rows]})


@routes.get("/accounts/{ban}/standing")
@translated
async def account_standing(request: web.Request) -> web.Response:
    """What the account summary needs of payments in one call: the autopay as
    /accounts/{ban}/autopay gives it (null when none) and the payments on their way
    (submitted, not yet settled, failed or returned: the same figure "total" leaves out of
    what it charges)."""
    deps, ban = _deps(request), _ban(request)
    async with deps.pool.acquire() as conn:
        m, rows = await repo.standing(conn, ban)
    return json_response({"autopay": mandates.autopay_answer(deps, m, rows), "pending": _pending_view(rows)})


def _pending_view(rows: list) -> dict[str, Any]:
    return {"pending_total_cents": sum(r["amount_cents"] for r in rows),
            "payments": [{"payment_id": str(r["payment_id"]), "amount_cents": r["amount_cents"],
                          "expected_withdrawal_date": r["expected_withdrawal_date"].isoformat(),
                          "attempt": r["attempt"]} for r in rows]}


@routes.get("/accounts/{ban}/autopay")
@translated
async def get_autopay(request: web.Request) -> web.Response:
    return json_response(await mandates.get_autopay(_deps(request), _ban(request)))


@routes.get("/accounts/{ban}/autopay/terms")
async def autopay_terms(request: web.Request) -> web.Response:
    """The authorization a recurring set-up asks for and its first draft date, shown before
    the member submits it, in ?language= (en, es; English otherwise)."""
    return json_response(mandates.terms_view(_deps(request), request.match_info["ban"],
                                             request.query.get("language", "en")))


@routes.post("/accounts/{ban}/autopay")
@translated
async def post_autopay(request: web.Request) -> web.Response:
    body = await _submission_body(request)
    ban = _ban(request)
    return _answered(await mandates.create_autopay(_deps(request), ban,
                                                   schemas.autopay_request(body, _ip(request))))


@routes.delete("/accounts/{ban}/autopay")
@translated
async def delete_autopay(request: web.Request) -> web.Response:
    return json_response(await mandates.cancel_autopay(_deps(request), _ban(request)))


@routes.put("/accounts/{ban}/autopay/method")
@translated
async def put_autopay_method(request: web.Request) -> web.Response:
    ban = _ban(request)
    body = schemas.AutopayMethodBody.model_validate(await _member_body(request))
    return json_response(await mandates.change_autopay_method(
        _deps(request), ban, body.method.typed(), body.client_ip or _ip(request)))


@routes.get("/accounts/{ban}/methods")
@translated
async def methods(request: web.Request) -> web.Response:
    async with _deps(request).pool.acquire() as conn:
        rows = await repo.list_methods(conn, _ban(request))
    return json_response({"methods": [{"method_id": str(r["method_id"]), "type": r["type"],
                                       "last4": r["last4"], "brand": r["brand"],
                                       "status": r["status"], "autopay": r["autopay"],
                                       "validation": ({"kind": r["validation_kind"],
                                                       "status": r["validation_status"]}
                                                      if r["validation_kind"] else None)}
                                      for r in rows]})


@routes.get("/accounts/{ban}/methods/{method_id}/validation")
@translated
async def method_validation(request: web.Request) -> web.Response:
    return json_response(await account_validation.status(
        _deps(request), _ban(request), request.match_info["method_id"]))


@routes.post("/accounts/{ban}/methods/{method_id}/validation")
@translated
async def confirm_method_validation(request: web.Request) -> web.Response:
    return json_response(await account_validation.confirm(
        _deps(request), _ban(request), request.match_info["method_id"], await read_json(request)))


@routes.delete("/accounts/{ban}/methods/{method_id}")
@translated
async def delete_method(request: web.Request) -> web.Response:
    return json_response(await saved_methods.remove_method(
        _deps(request), request.match_info["ban"], request.match_info["method_id"]))


@routes.get("/accounts/{ban}/owed")
@translated
async def owed(request: web.Request) -> web.Response:
    async with _deps(request).pool.acquire() as conn:
        data = await projection.owed(conn, _ban(request))
    if data is None:
        raise errors.UnknownAccount()
    return json_response(data)


@routes.post("/accounts/{ban}/refunds")
@translated
async def post_refund(request: web.Request) -> web.Response:
    """A member asks for the account's credit back: {amount: "credit" | "12.34"}, once per
    Idempotency-Key (201 made, 200 the first answer again)."""
    ban = _ban(request)
    return _answered(await refunds.request_refund(_deps(request), ban, await _submission_body(request)))


@routes.get("/accounts/{ban}/refunds")
@translated
async def account_refunds(request: web.Request) -> web.Response:
    return json_response({"refunds": await refunds.account_refunds(_deps(request), _ban(request))})
