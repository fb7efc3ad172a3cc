"""What every submission to payments shares (one-time payments in submit.py, recurring
set-ups in mandates.py): the payer's contact as typed, and exactly-once answers per
idempotency key (the request's keyed hash, the first answer replayed)."""
from __future__ import annotations

from typing import Any

import asyncpg
import orjson

from services.payments.service_layer.deps import Deps
from shared.http import ApiError


def parse_contact(raw: Any, errors: dict[str, str]) -> dict[str, Any]:
    c = raw if isinstance(raw, dict) else {}
    email = c.get("email").strip() if isinstance(c.get("email"), str) else ""
    if "@" not in email or len(email) > 254:
        errors["contact.email"] = "Enter an email address for the confirmation."
    elif c.get("email_confirmation") is not None and \
            str(c["email_confirmation"]).strip().lower() != email.lower():
        errors["contact.email_confirmation"] = "The two email addresses do not match."
    phone = c.get("phone") if isinstance(c.get("phone"), str) else None
    lang = c.get("language") if c.get("language") in ("en", "es") else "en"
    return {"email": email, "phone": phone, "language": lang}


def request_hash(deps: Deps, scope: str, body: dict) -> str:
    """A keyed hash of the body (less the key): the same key with another body is refused."""
    rest = {k: v for k, v in body.items() if k not in ("idempotency_key", "client_ip")}
    return deps.hasher(scope, orjson.dumps(rest, option=orjson.OPT_SORT_KEYS))


def replay(row: asyncpg.Record, req_hash: str) -> tuple[int, dict]:
    if row["request_hash"] != req_hash:
        raise ApiError(409, "idempotency_conflict",
                       "This idempotency key was already used for a different request.")
    status = row["status_code"]
    return (200 if status == 201 else status), row["response"]
