"""Request bodies of identity's HTTP API, checked field by field.

Every problem is reported at once as `{field: message}` (422 `invalid_input`), before
anything is counted or stored. Messages never repeat what was typed.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Callable
from datetime import date
from typing import Any

from services.identity.domain import values as v
from services.identity.service_layer.lookups import Identification
from shared.http import ApiError

PLAN_TYPES = ("health", "dental")
ID_TYPES = ("enrollment_id", "ssn", "billing_account_number")


class Fields:
    """Collects field errors from one body."""

    def __init__(self, body: Any) -> None:
        if not isinstance(body, dict):
            raise ApiError(422, "invalid_input", "The request body must be a JSON object.",
                           {"body": "must be a JSON object"})
        self.body = body
        self.errors: dict[str, str] = {}

    def text(self, name: str, check: Callable[[str], Any] | None = None, *,
             required: bool = True, max_len: int = 1000) -> Any:
        value = self.body.get(name)
        if value is None or (isinstance(value, str) and not value.strip() and required):
            if required:
                self.errors[name] = "is required"
            return None
        if not isinstance(value, str):
            self.errors[name] = "must be text"
            return None
        if len(value) > max_len:
            self.errors[name] = f"must be at most {max_len} characters"
            return None
        if v.has_control_chars(value):
            self.errors[name] = "must not contain control characters"
            return None
        if check is None:
            return value
        try:
            return check(value)
        except ValueError as exc:
            self.errors[name] = str(exc)
            return None

    def choice(self, name: str, options: tuple[str, ...], *, required: bool = True) -> str | None:
        def check(value: str) -> str:
            if value not in options:
                raise ValueError(f"must be one of {', '.join(options)}")
            return value
        return self.text(name, check, required=required)

    def flag(self, name: str) -> bool | None:
        value = self.body.get(name)
        if value is not None and not isinstance(value, bool):
            self.errors[name] = "must be true or false"
            return None
        return value

    def done(self) -> None:
        if self.errors:
            raise ApiError(422, "invalid_input", "Some fields are not valid.", self.errors)


def _ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise ValueError("is not an IP address") from None


def identification(f: Fields, today: date) -> Identification | None:
    """The lookup fields shared by POST /lookups and POST /members."""
    plan_type = f.choice("plan_type", PLAN_TYPES)
    id_type = f.choice("id_type", ID_TYPES)
    id_value = None
    if id_type == "ssn":
        ssn = f.text("id_value", v.check_ssn, max_len=20)
        again = f.text("id_value_confirmation", v.check_ssn, max_len=20)
        if ssn and again and ssn != again:
            f.errors["id_value_confirmation"] = "the two Social Security numbers do not match"
        id_value = ssn
    elif id_type == "billing_account_number":
        id_value = f.text("id_value", v.check_ban, max_len=20)
    elif id_type == "enrollment_id":
        id_value = f.text("id_value", v.check_enrollment_id, max_len=40)
    else:
        f.text("id_value", max_len=40)
    first = f.text("first_name", v.check_name, max_len=2000)
    last = f.text("last_name", v.check_name, max_len=2000)
    born = f.text("date_of_birth", lambda s: v.check_birth_date(s, today), max_len=20)
    ip = f.text("client_ip", _ip, max_len=64)
    if f.errors:
        return None
    return Identification(plan_type, id_type, id_value, first, last, born, ip)


def lookup(body: Any, today: date) -> Identification:
    f = Fields(body)
    ident = identification(f, today)
    f.done()
    assert ident is not None
    return ident


def registration(body: Any, today: date) -> tuple[Identification, dict]:
    f = Fields(body)
    ident = identification(f, today)
    extra = {
        "username": f.text("username", v.check_username, max_len=60),
        "email": f.text("email", v.check_email, max_len=300),
        "password": f.text("password", max_len=1024),
        "phone": f.text("phone", v.check_phone, required=False, max_len=30),
        "language": f.text("language", v.check_language, required=False, max_len=10),
    }
    f.done()
    assert ident is not None
    return ident, extra


def login(body: Any) -> tuple[str, str, str]:
    f = Fields(body)
    username = f.text("username", max_len=60)
    password = f.text("password", max_len=1024)
    ip = f.text("client_ip", _ip, max_len=64)
    f.done()
    return username.strip(), password, ip


def reset_request(body: Any) -> tuple[str | None, str | None]:
    """The account to reset. The link is always built from the configured public URL: a
    `base_url` field (older gateways sent one) is ignored, never used."""
    f = Fields(body)
    username = f.text("username", required=False, max_len=60)
    email = f.text("email", v.check_email, required=False, max_len=300)
    if not username and not email and "email" not in f.errors:
        f.errors["username"] = "give a username or an email address"
    f.done()
    return (username.strip() if username else None), email


def reset_confirm(body: Any) -> tuple[str, str]:
    f = Fields(body)
    token = f.text("token", max_len=200)
    password = f.text("new_password", max_len=1024)
    f.done()
    return token, password


def reset_check(body: Any) -> str:
    f = Fields(body)
    token = f.text("token", max_len=200)
    f.done()
    return token


def reminder(body: Any) -> str:
    f = Fields(body)
    email = f.text("email", v.check_email, max_len=300)
    f.done()
    return email


def contact_changes(body: Any) -> tuple[dict, str | None]:
    """The changes asked for, and the current password (needed for a new email address).
    `"phone": null` (or blank) removes the phone number, and texts with it."""
    f = Fields(body)
    current_password = f.text("current_password", required=False, max_len=1024)
    clear_phone = isinstance(body, dict) and "phone" in body and \
        (body["phone"] is None or (isinstance(body["phone"], str) and not body["phone"].strip()))
    changes = {
        "email": f.text("email", v.check_email, required=False, max_len=300),
        "phone": None if clear_phone else f.text("phone", v.check_phone, required=False, max_len=30),
        "language": f.text("language", v.check_language, required=False, max_len=10),
        "email_enabled": f.flag("email_enabled"),
        "sms_enabled": f.flag("sms_enabled"),
    }
    f.done()
    out = {k: val for k, val in changes.items() if k in body and val is not None}
    if clear_phone:
        out.update(phone=None, sms_enabled=False)
    return out, current_password or None
