"""Signed, short-lived tokens: guest lookup tokens bound to one billing account, CSRF tokens
and the signed cookie that carries a guest's quick-pay progress.

A token is `base64url(json payload) + "." + base64url(HMAC-SHA256)`; verifying needs no
database, so the account summary path stays fast. No I/O here.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from typing import Any

import orjson


class InvalidToken(Exception):
    """Bad signature, malformed, expired or of another purpose."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """HMAC signing of small JSON payloads with a purpose and an expiry."""

    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(secret.encode()).digest()

    def _mac(self, body: str, purpose: str) -> str:
        return _b64(hmac.new(self._key, f"{purpose}:{body}".encode(), hashlib.sha256).digest())

    def sign(self, purpose: str, payload: dict[str, Any], ttl_s: int,
             now: float | None = None) -> str:
        exp = int((now or time.time()) + ttl_s)
        body = _b64(orjson.dumps({**payload, "exp": exp, "n": secrets.token_hex(4)}))
        return f"{body}.{self._mac(body, purpose)}"

    def verify(self, purpose: str, token: str, now: float | None = None) -> dict[str, Any]:
        body, _, mac = (token or "").partition(".")
        if not body or not mac or not hmac.compare_digest(mac, self._mac(body, purpose)):
            raise InvalidToken("bad signature")
        try:
            payload: dict[str, Any] = orjson.loads(_unb64(body))
        except (ValueError, orjson.JSONDecodeError):
            raise InvalidToken("malformed") from None
        if payload.get("exp", 0) < (now or time.time()):
            raise InvalidToken("expired")
        return payload

    def digest(self, purpose: str, value: str) -> str:
        """A keyed digest (CSRF tokens are the digest of the browser's CSRF cookie)."""
        return self._mac(value, purpose)


LOOKUP = "lookup"
QUICK_PAY = "quick-pay"
CSRF = "csrf"
PAYABLE = "payable-reminder"  # the time a plan becomes payable, for a reminder then


def hash_session_id(session_id: str) -> bytes:
    return hashlib.sha256(session_id.encode()).digest()
