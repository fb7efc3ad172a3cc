"""The card processor adapter. The default speaks to the card sandbox's HTTP API (a
processor's test mode): the card is exchanged for a token, then the token is charged. The
card number and CVV leave this process only towards the processor."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import aiohttp

from services.payments.domain.methods import Card


class ProcessorUnavailable(Exception):
    """The processor did not answer; nothing was charged as far as we know."""


@dataclass(frozen=True)
class CardToken:
    token: str
    brand: str
    last4: str


@dataclass(frozen=True)
class ChargeResult:
    approved: bool
    charge_id: str | None
    code: str        # "approved" | "card_declined" | "insufficient_funds" | "expired_card" ...
    message: str


@dataclass(frozen=True)
class RefundResult:
    succeeded: bool
    refund_id: str | None
    code: str        # "succeeded" | "amount_too_large" | "no_such_charge" ...
    message: str


class CardProcessor(Protocol):
    async def tokenize(self, card: Card) -> CardToken: ...
    async def charge(self, token: str, amount_cents: int, idempotency_key: str,
                     description: str) -> ChargeResult: ...
    async def refund(self, charge_id: str, amount_cents: int,
                     idempotency_key: str) -> RefundResult: ...
    async def close(self) -> None: ...


class HttpCardProcessor:
    def __init__(self, base_url: str, timeout_s: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self._session

    async def _post(self, path: str, body: dict) -> tuple[int, dict]:
        try:
            async with self._http().post(self.base_url + path, json=body) as resp:
                return resp.status, await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ProcessorUnavailable(type(exc).__name__) from None

    async def tokenize(self, card: Card) -> CardToken:
        status, body = await self._post("/v1/tokens", {
            "card_number": card.number, "expiry_month": card.expiry_month,
            "expiry_year": card.expiry_year, "cvv": card.cvv, "postal_code": card.postal_code,
            "cardholder_name": card.holder_name})
        if status != 201:
            raise ProcessorUnavailable(f"tokenize answered {status}")
        return CardToken(body["token"], body["brand"], body["last4"])

    async def charge(self, token: str, amount_cents: int, idempotency_key: str,
                     description: str) -> ChargeResult:
        status, body = await self._post("/v1/charges", {
            "token": token, "amount_cents": amount_cents, "idempotency_key": idempotency_key,
            "description": description})
        if status in (200, 201):
            return ChargeResult(True, body.get("charge_id"), "approved", "Approved")
        if status == 402:
            err = body.get("error", {})
            return ChargeResult(False, err.get("charge_id"), err.get("code", "card_declined"),
                                err.get("message", "The card was declined."))
        raise ProcessorUnavailable(f"charge answered {status}")

    async def refund(self, charge_id: str, amount_cents: int,
                     idempotency_key: str) -> RefundResult:
        """Part or all of a charge back to its card, once per idempotency key."""
        status, body = await self._post("/v1/refunds", {
            "charge_id": charge_id, "amount_cents": amount_cents,
            "idempotency_key": idempotency_key})
        if status in (200, 201):
            return RefundResult(True, body.get("refund_id"), "succeeded", "Refunded")
        if status in (404, 422):
            err = body.get("error", {})
            return RefundResult(False, None, err.get("code", "refund_refused"),
                                err.get("message", "The processor refused the refund."))
        raise ProcessorUnavailable(f"refund answered {status}")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
