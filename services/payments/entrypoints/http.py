"""The internal HTTP API the gateway calls (docs/internal-api.md, payments): thin
translators to the use cases."""
from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from services.payments.adapters import repository as repo
from services.payments.service_layer import mandates, projection
from services.payments.service_layer.deps import Deps
from services.payments.service_layer.submit import submit_payment
from services.payments.service_layer.errors import unknown_account
from shared.http import ApiError, json_response, read_json

routes = web.RouteTableDef()


def _deps(request: web.Request) -> Deps:
    return request.app["payments_deps"]


def _ip(request: web.Request) -> str | None:
    forwarded = request.headers.get("X-Forwarded-For")
    return forwarded.split(",")[0].strip() if forwarded else request.remote


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
            "created_at": p["created_at"].isoformat()}


@routes.get("/config")
async def config(request: web.Request) -> web.Response:
    s = _deps(request).settings
    return json_response({"cards_enabled": s.cards_enabled, "program": s.program})


@routes.post("/payments")
async def post_payment(request: web.Request) -> web.Response:
    body = await read_json(request)
    if isinstance(body, dict) and not body.get("idempotency_key") and request.headers.get("Idempotency-Key"):
        body["idempotency_key"] = request.headers["Idempotency-Key"]
    status, answer = await submit_payment(_deps(request), body, _ip(request))
    return json_response(answer, status=status)


@routes.get("/payments/{payment_id}")
async def get_payment(request: web.Request) -> web.Response:
    try:
        pid = uuid.UUID(request.match_info["payment_id"])
    except ValueError:
        raise ApiError(404, "not_found", "No payment with this id.") from None
    async with _deps(request).pool.acquire() as conn:
        p = await repo.get_payment(conn, pid)
    if p is None:
        raise ApiError(404, "not_found", "No payment with this id.")
    return json_response(payment_view(p))


@routes.get("/accounts/{ban}/payments")
async def account_payments(request: web.Request) -> web.Response:
    async with _deps(request).pool.acquire() as conn:
        rows = await repo.account_payments(conn, request.match_info["ban"])
    return json_response({"payments": [payment_view(p) for p in rows]})


@routes.get("/accounts/{ban}/autopay")
async def get_autopay(request: web.Request) -> web.Response:
    return json_response(await mandates.get_autopay(_deps(request), request.match_info["ban"]))


@routes.get("/accounts/{ban}/autopay/terms")
async def autopay_terms(request: web.Request) -> web.Response:
    """The authorization a recurring set-up asks for and its first draft date, shown before
    the member submits it."""
    return json_response(mandates.terms_view(_deps(request), request.match_info["ban"]))


@routes.post("/accounts/{ban}/autopay")
async def post_autopay(request: web.Request) -> web.Response:
    body = await read_json(request)
    if isinstance(body, dict) and not body.get("idempotency_key") and request.headers.get("Idempotency-Key"):
        body["idempotency_key"] = request.headers["Idempotency-Key"]
    status, answer = await mandates.create_autopay(_deps(request), request.match_info["ban"],
                                                   body, _ip(request))
    return json_response(answer, status=status)


@routes.delete("/accounts/{ban}/autopay")
async def delete_autopay(request: web.Request) -> web.Response:
    return json_response(await mandates.cancel_autopay(_deps(request), request.match_info["ban"]))


@routes.put("/accounts/{ban}/autopay/method")
async def put_autopay_method(request: web.Request) -> web.Response:
    return json_response(await mandates.change_autopay_method(
        _deps(request), request.match_info["ban"], await read_json(request), _ip(request)))


@routes.get("/accounts/{ban}/methods")
async def methods(request: web.Request) -> web.Response:
    async with _deps(request).pool.acquire() as conn:
        rows = await repo.list_methods(conn, request.match_info["ban"])
    return json_response({"methods": [{"method_id": str(r["method_id"]), "type": r["type"],
                                       "last4": r["last4"], "brand": r["brand"],
                                       "status": r["status"]} for r in rows]})


@routes.get("/accounts/{ban}/owed")
async def owed(request: web.Request) -> web.Response:
    async with _deps(request).pool.acquire() as conn:
        data = await projection.owed(conn, request.match_info["ban"])
    if data is None:
        raise unknown_account()
    return json_response(data)
