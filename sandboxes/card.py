"""The card sandbox: a card processor's test mode behind payments' processor adapter.

API (JSON, under /card/):
- `POST /card/v1/tokens {card_number, expiry_month, expiry_year, cvv, postal_code,
  cardholder_name}` -> 201 `{token, brand, last4}`; 422 `invalid_card` (Luhn, brand, expiry).
  The number is kept only in this process's memory, as a processor's vault would.
- `POST /card/v1/charges {token, amount_cents, idempotency_key, description}` -> 201
  `{charge_id, status: "succeeded", amount_cents}`, or 402 `{error: {code, message,
  charge_id}}`; the same idempotency key gives the first answer again.
- `GET /card/` lists charges (last4 only), newest first; `GET /card/v1/charges/{id}`.

Test numbers (like a real processor's test mode; any expiry in the future, any CVV):
| number | outcome |
|---|---|
| 4242424242424242 (Visa), 5555555555554444 (MasterCard), 378282246310005 (Amex), 6011111111111117 (Discover) | approved |
| 4000000000000002 | declined: `card_declined` |
| 4000000000009995 | declined: `insufficient_funds` |
| 4000000000000069 | declined: `expired_card` |
| 4000000000000127 | declined: `incorrect_cvc` |
Any other number passing Luhn with one of the four brands is approved.
"""
from __future__ import annotations

import uuid
from collections import OrderedDict
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from sandboxes.settings import SandboxSettings
from shared.calendar import business_today
from shared.http import ApiError, json_response, read_json
from shared.numbers import luhn_ok

DECLINES = {
    "4000000000000002": ("card_declined", "The card was declined."),
    "4000000000009995": ("insufficient_funds", "The card has insufficient funds."),
    "4000000000000069": ("expired_card", "The card has expired."),
    "4000000000000127": ("incorrect_cvc", "The card's security code is incorrect."),
}




def _brand(n: str) -> str | None:
    if n.startswith("4") and len(n) in (13, 16, 19):
        return "visa"
    if len(n) == 16 and (51 <= int(n[:2]) <= 55 or 2221 <= int(n[:4]) <= 2720):
        return "mastercard"
    if len(n) == 15 and n[:2] in ("34", "37"):
        return "amex"
    if 16 <= len(n) <= 19 and (n.startswith(("6011", "65")) or 644 <= int(n[:3]) <= 649):
        return "discover"
    return None


class CardProcessorSandbox:
    def __init__(self, limit: int = 100_000) -> None:
        self.tokens: dict[str, dict[str, Any]] = {}
        self.charges: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.by_key: dict[str, tuple[int, dict[str, Any]]] = {}
        self.limit = limit

    def tokenize(self, body: dict[str, Any]) -> dict[str, Any]:
        number = "".join(ch for ch in str(body.get("card_number", "")) if ch.isdigit())
        brand = _brand(number) if len(number) >= 12 and luhn_ok(number) else None
        month, year = body.get("expiry_month"), body.get("expiry_year")
        if brand is None:
            raise ApiError(422, "invalid_card", "The card number is not valid.")
        if not isinstance(month, int) or not isinstance(year, int) or \
                (year, month) < (business_today().year, business_today().month):
            raise ApiError(422, "invalid_card", "The card has expired.")
        token = "tok_" + uuid.uuid4().hex
        self.tokens[token] = {"brand": brand, "last4": number[-4:],
                              "decline": DECLINES.get(number)}
        return {"token": token, "brand": brand, "last4": number[-4:]}

    def charge(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        key = str(body.get("idempotency_key") or "")
        if key and key in self.by_key:
            return self.by_key[key]
        card = self.tokens.get(str(body.get("token")))
        amount = body.get("amount_cents")
        if card is None:
            raise ApiError(404, "no_such_token", "Unknown card token.")
        if not isinstance(amount, int) or amount <= 0:
            raise ApiError(422, "invalid_amount", "amount_cents must be a positive integer.")
        charge_id = "ch_" + uuid.uuid4().hex
        record = {"charge_id": charge_id, "amount_cents": amount, "brand": card["brand"],
                  "last4": card["last4"], "description": str(body.get("description", ""))[:200],
                  "created_at": datetime.now(timezone.utc).isoformat()}
        if card["decline"]:
            code, message = card["decline"]
            record.update(status="declined", code=code)
            answer = (402, {"error": {"code": code, "message": message, "charge_id": charge_id}})
        else:
            record.update(status="succeeded")
            answer = (201, {"charge_id": charge_id, "status": "succeeded", "amount_cents": amount})
        self.charges[charge_id] = record
        self.charges.move_to_end(charge_id, last=False)
        while len(self.charges) > self.limit:
            self.charges.popitem()
        if key:
            self.by_key[key] = answer
        return answer

    def refund(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """A processor's refund: part or all of a succeeded charge, never more than what is
        left of it; once per idempotency key (a retry gets the first answer)."""
        key = str(body.get("idempotency_key") or "")
        if key and key in self.by_key:
            return self.by_key[key]
        charge = self.charges.get(str(body.get("charge_id")))
        amount = body.get("amount_cents")
        if charge is None or charge.get("status") != "succeeded":
            raise ApiError(404, "no_such_charge", "No succeeded charge with this id.")
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            raise ApiError(422, "invalid_amount", "amount_cents must be a positive integer.")
        left = charge["amount_cents"] - charge.get("refunded_cents", 0)
        if amount > left:
            answer: tuple[int, dict[str, Any]] = (
                422, {"error": {"code": "amount_too_large",
                                "message": "The refund is more than what is left of the charge."}})
        else:
            charge["refunded_cents"] = charge.get("refunded_cents", 0) + amount
            refund_id = "re_" + uuid.uuid4().hex
            charge.setdefault("refunds", []).append({"refund_id": refund_id, "amount_cents": amount})
            answer = (201, {"refund_id": refund_id, "charge_id": charge["charge_id"],
                            "status": "succeeded", "amount_cents": amount})
        if key:
            self.by_key[key] = answer
        return answer


def build_routes(sandbox: CardProcessorSandbox) -> web.RouteTableDef:
    routes = web.RouteTableDef()

    @routes.get("/card/")
    async def index(_: web.Request) -> web.Response:
        return json_response({"charges": list(sandbox.charges.values())[:200],
                              "test_numbers": {"approved": ["4242424242424242", "5555555555554444",
                                                            "378282246310005", "6011111111111117"],
                                               **{v[0]: k for k, v in DECLINES.items()}}})

    @routes.post("/card/v1/tokens")
    async def tokens(request: web.Request) -> web.Response:
        return json_response(sandbox.tokenize(await read_json(request)), status=201)

    @routes.post("/card/v1/charges")
    async def charges(request: web.Request) -> web.Response:
        status, body = sandbox.charge(await read_json(request))
        return json_response(body, status=status)

    @routes.post("/card/v1/refunds")
    async def refunds(request: web.Request) -> web.Response:
        status, body = sandbox.refund(await read_json(request))
        return json_response(body, status=status)

    @routes.get("/card/v1/charges/{charge_id}")
    async def one(request: web.Request) -> web.Response:
        item = sandbox.charges.get(request.match_info["charge_id"])
        if item is None:
            raise ApiError(404, "not_found", "No such charge.")
        return json_response(item)

    return routes


CARD_SANDBOX = web.AppKey("card_sandbox", CardProcessorSandbox)


def register(app: web.Application, settings: SandboxSettings) -> None:
    sandbox = CardProcessorSandbox()
    app[CARD_SANDBOX] = sandbox
    app.add_routes(build_routes(sandbox))
