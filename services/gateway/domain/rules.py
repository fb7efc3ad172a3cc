"""Input rules of the public API, in plain words (no I/O).

Messages are catalog keys (`err.*`): the API answers them in English, the portal in the
member's language. Typed-twice fields must match; nothing typed is ever echoed back.
"""
from __future__ import annotations

import re
from datetime import date

from shared import numbers
from shared.money import parse_amount
from shared.numbers import aba_ok, is_valid_ban  # noqa: F401 - the rule schemas and routes use

# Every typed number is ASCII digits: `\d` would take Arabic-Indic or fullwidth digits too.
BAN = re.compile(r"^7[0-9]{9}$")
SSN = re.compile(r"^[0-9]{9}$")
ROUTING = re.compile(r"^[0-9]{9}$")
ACCOUNT = re.compile(r"^[0-9]{4,17}$")
CVV = re.compile(r"^[0-9]{3,4}$")
POSTAL = re.compile(r"^[0-9]{5}(-[0-9]{4})?$")
DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def digits(text: str) -> str:
    return re.sub(r"[\s-]", "", text or "")


def luhn_ok(number: str) -> bool:
    """A card number: 12 to 19 ASCII digits passing the Luhn test."""
    return bool(re.fullmatch(r"[0-9]{12,19}", number)) and numbers.luhn_ok(number)


def parse_date_of_birth(text: str, today: date) -> date:
    if not (text or "").strip():
        raise ValueError("err.required")
    if not DATE.match(text):  # fromisoformat alone takes other scripts' digits
        raise ValueError("err.date")
    try:
        born = date.fromisoformat(text)
    except (TypeError, ValueError):
        raise ValueError("err.date") from None
    if born > today or born.year < 1900:
        raise ValueError("err.date")
    return born


def check_id(id_type: str, value: str) -> str:
    value = digits(value) if id_type != "enrollment_id" else (value or "").strip()
    if not value:
        raise ValueError("err.required")
    if id_type == "ssn" and not SSN.match(value):
        raise ValueError("err.ssn")
    if id_type == "billing_account_number" and not is_valid_ban(value):
        raise ValueError("err.ban")
    if id_type == "enrollment_id" and not re.fullmatch(r"[A-Za-z0-9-]{4,20}", value):
        raise ValueError("err.enrollment_id")
    return value


HOLDER_MAX = 80  # a bank account's or card's holder name (payments allows as much)


def check_name(value: str, max_len: int = 60) -> str:
    value = (value or "").strip()
    if not value:
        raise ValueError("err.required")
    if len(value) > max_len:
        raise ValueError("err.too_long")
    return value


def check_email(value: str) -> str:
    value = (value or "").strip()
    if not EMAIL.match(value) or len(value) > 254:
        raise ValueError("err.email")
    return value


def check_phone(value: str) -> str:
    value = re.sub(r"[\s().+-]", "", value or "")
    if value.startswith("1") and len(value) == 11:
        value = value[1:]
    if not re.fullmatch(r"[0-9]{10}", value):
        raise ValueError("err.phone")
    return value


def amount_problem(amount: str, kind: str, amount_due_now: str | None, overpay_max_cents: int,
                   payment_max_cents: int) -> tuple[str, int] | None:
    """Whether Step 4's amount can be charged, before the CAPTCHA: None, or (catalog key,
    the most that may be paid in cents). "total" with nothing left to pay is refused for a
    one-time payment (a recurring set-up may start with nothing due today); a typed amount
    may not pass what is due now plus the program's overpayment allowance, nor the
    per-payment maximum. Unknown while the balance is not available: payments decides."""
    if amount_due_now is None:
        return None
    due = parse_amount(amount_due_now)
    if amount == "total":
        return ("err.nothing_to_pay", 0) if due <= 0 and kind == "one_time" else None
    limit = min(due + overpay_max_cents, payment_max_cents)
    if parse_amount(amount) > limit:
        return ("err.amount_over_limit" if limit > 0 else "err.nothing_to_pay"), limit
    return None
