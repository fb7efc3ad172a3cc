"""Maps the portal's HTML forms onto the public API's models and the models' error paths
back onto the form's fields (so an error shows next to the field that caused it)."""
from __future__ import annotations

import secrets
from typing import Any

from pydantic import ValidationError

from services.gateway import schemas as s
from services.gateway.translations import translate
from shared.http import ApiError
from shared.money import InvalidAmount, format_cents, format_dollars, parse_amount, parse_typed_amount

SECRET_FIELDS = {"ssn", "ssn_confirmation", "account_number", "account_number_confirmation",
                 "card_number", "cvv", "password", "password_confirmation", "new_password",
                 "current_password"}
ID_FIELD = {"enrollment_id": "enrollment_id", "ssn": "ssn", "billing_account_number": "billing_account_number"}


def kept(values: dict[str, str]) -> dict[str, str]:
    """What the member typed, minus secrets (never sent back into a page)."""
    return {k: v for k, v in values.items() if k not in SECRET_FIELDS and k != "csrf_token"}


def lookup_body(f: dict[str, str]) -> dict[str, Any]:
    id_type = f.get("id_type", "")
    return {"plan_type": f.get("plan_type", ""), "id_type": id_type,
            "id_value": f.get(ID_FIELD.get(id_type, "enrollment_id"), ""),
            "id_value_confirmation": f.get("ssn_confirmation") if id_type == "ssn" else None,
            "first_name": f.get("first_name", ""), "last_name": f.get("last_name", ""),
            "date_of_birth": f.get("date_of_birth", "")}


def lookup_errors(exc: ValidationError, f: dict[str, str]) -> dict[str, str]:
    errors = {}
    for path, key in s.field_errors(exc).items():
        if path == "id_value":
            path = ID_FIELD.get(f.get("id_type", ""), "id_type")
        elif path == "id_value_confirmation":
            path = "ssn_confirmation"
        errors[path] = key
    return errors


def method_body(f: dict[str, str]) -> dict[str, Any]:
    if f.get("method_type") == "card":
        return {"type": "card", "cardholder_name": f.get("cardholder_name", ""),
                "card_number": f.get("card_number", ""), "expiry_month": f.get("expiry_month") or 0,
                "expiry_year": f.get("expiry_year") or 0, "cvv": f.get("cvv", ""),
                "postal_code": f.get("postal_code", "")}
    return {"type": f.get("method_type", ""), "account_holder_name": f.get("account_holder_name", ""),
            "account_number": f.get("account_number", ""),
            "account_number_confirmation": f.get("account_number_confirmation", ""),
            "routing_number": f.get("routing_number", ""),
            "routing_number_confirmation": f.get("routing_number_confirmation", "")}


def typed_amount(text: str) -> str:
    """What the member typed ("$1,000", "25") as the API's decimal ("1000.00"); text that
    is not an amount goes on unchanged, for the model to refuse next to the field."""
    try:
        return format_cents(parse_typed_amount(text))
    except InvalidAmount:
        return (text or "").strip()


def payment_body(f: dict[str, str], ban: str, contact: dict[str, str]) -> dict[str, Any]:
    total = f.get("amount_choice", "total") == "total"
    amount = "total" if total else typed_amount(f.get("other_amount", ""))
    body = {"billing_account_number": ban, "kind": f.get("kind", ""), "amount": amount,
            "method": method_body(f), "contact": contact}
    if total and f.get("expected_amount"):  # the total the member was shown
        body["expected_amount"] = f["expected_amount"]
    kind = f.get("payer_kind", "member") or "member"
    if kind != "member":  # "Who is paying?": the member unless another is chosen
        body["payer"] = {"kind": kind, "name": f.get("payer_name", ""),
                         "email": f.get("payer_email", "") or None}
    return body


def model_errors(exc: ValidationError) -> dict[str, str]:
    errors = {}
    for path, key in s.field_errors(exc).items():
        field = path.split(".")[-1]
        if path.startswith("payer."):
            field = "payer_" + field
        elif path in ("amount", "expected_amount"):
            field = "other_amount"
        elif path in ("method", "method.type"):
            field = "method_type"
        errors[field] = key
    return errors


# The services refuse a field in English words; the portal shows its own catalog's sentence
# (English or Spanish) for every refusal it knows: by the start of the message for a
# password (identity's password rules), by the field for the payment form's fields.
PASSWORD_PROBLEMS = (
    ("must be at least", "err.password_short"), ("must be at most", "err.password_long"),
    ("must not contain your username", "err.password_username"),
    ("is too common", "err.password_common"), ("repeats too few", "err.password_repetitive"),
    ("is a run of sequential", "err.password_sequence"))
FIELD_KEYS = {
    "email": "err.email", "email_confirmation": "err.email_mismatch",
    "account_number": "err.account_number", "account_number_confirmation": "err.account_mismatch",
    "routing_number": "err.routing_number", "routing_number_confirmation": "err.routing_mismatch",
    "card_number": "err.card_number", "cvv": "err.cvv", "kind": "err.choose", "method": "err.choose",
    "type": "err.choose", "phone": "err.phone"}


def upstream_key(field: str, message: str) -> str:
    """The catalog key for an upstream service's words about a field (else the words)."""
    if field in ("password", "new_password"):
        for start, key in PASSWORD_PROBLEMS:
            if message.startswith(start):
                return key
        return "err.password_invalid"
    return FIELD_KEYS.get(field, message)


# A refusal of the whole form, by its code, in the catalog's words.
CODE_KEYS = {
    "autopay_exists": "api.autopay_exists", "no_autopay": "api.no_autopay",
    "method_in_use": "api.method_in_use", "no_method": "api.no_method",
    "idempotency_conflict": "api.idempotency_conflict", "unknown_account": "api.unknown_account",
    "account_not_ready": "qp.not_ready", "processor_unavailable": "api.processor_unavailable",
    "no_payment_plan": "api.no_payment_plan", "service_unavailable": "error.unavailable"}


def amount_words(message: str, lang: str) -> str:
    """Payments' words about an amount (the balance can change between the page's own check
    and the submission) in the page's language."""
    if message.startswith("There is nothing to pay"):
        return "err.nothing_to_pay"
    if "at most " in message:
        try:
            limit = parse_amount(message.rsplit("at most ", 1)[1].rstrip("."))
        except (InvalidAmount, ValueError):
            return "err.amount"
        return translate(lang, "err.amount_over_limit", limit=format_dollars(limit))
    if "more than zero" in message:
        return "err.amount_positive"
    return "err.amount"


def api_errors(exc: ApiError, lang: str = "en") -> dict[str, str]:
    """An upstream refusal's fields onto form fields, or a form-level message; in the
    catalog's words (English or Spanish) wherever the refusal is one the portal knows."""
    if exc.fields:
        errors = {}
        for path, msg in exc.fields.items():
            field = path.split(".")[-1]
            if path in ("amount", "expected_amount"):
                errors["other_amount"] = amount_words(msg, lang)
            else:
                errors[field] = upstream_key(field, msg)
        return errors
    key = CODE_KEYS.get(exc.code)
    if key:
        return {"_form": key}
    return {"_form": "error.generic" if lang != "en" else exc.message}


def new_key() -> str:
    return secrets.token_urlsafe(18)
