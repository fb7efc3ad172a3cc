"""Payment methods as the member types them: bank accounts (ABA routing check digit,
4-17 digit account numbers, both typed twice) and cards (Luhn, brand by prefix, expiry).

Pure rules: no I/O. Errors are `InvalidInput` with {field: plain message}; a message never
repeats the number typed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from shared import errors
from shared.numbers import aba_ok, luhn_ok  # noqa: F401 - the check digits these rules use

BANK_TYPES = ("checking", "savings")


class InvalidInput(errors.InvalidInput):
    """One or more fields the member must correct; `fields` maps field -> message."""

    def __init__(self, fields: dict[str, str], message: str | None = None) -> None:
        super().__init__(message, fields)


def clean_digits(text: object) -> str:
    """Digits typed with spaces or dashes between groups, as people type them."""
    return re.sub(r"[\s-]", "", text) if isinstance(text, str) else ""




def card_brand(number: str) -> str | None:
    """Visa, MasterCard, American Express or Discover by prefix and length; None otherwise."""
    n, length = number, len(number)
    if n.startswith("4") and length in (13, 16, 19):
        return "visa"
    if length == 16 and (51 <= int(n[:2]) <= 55 or 2221 <= int(n[:4]) <= 2720):
        return "mastercard"
    if length == 15 and n[:2] in ("34", "37"):
        return "amex"
    if 16 <= length <= 19 and (n.startswith("6011") or n.startswith("65")
                               or 644 <= int(n[:3]) <= 649 or 622126 <= int(n[:6]) <= 622925):
        return "discover"
    return None


@dataclass(frozen=True)
class BankAccount:
    type: str  # checking | savings
    holder_name: str
    routing_number: str
    account_number: str

    @property
    def last4(self) -> str:
        return self.account_number[-4:]

    def __repr__(self) -> str:  # never print the number
        return f"BankAccount(type={self.type!r}, last4={self.last4!r})"


@dataclass(frozen=True)
class Card:
    holder_name: str
    number: str
    expiry_month: int
    expiry_year: int
    cvv: str
    postal_code: str
    brand: str

    @property
    def last4(self) -> str:
        return self.number[-4:]

    def __repr__(self) -> str:
        return f"Card(brand={self.brand!r}, last4={self.last4!r})"


def _name(value: object, field: str, errors: dict[str, str]) -> str:
    name = value.strip() if isinstance(value, str) else ""
    if not name or len(name) > 80 or any(ord(c) < 32 for c in name):
        errors[field] = "Enter the name on the account (up to 80 characters)."
    return name


def parse_bank_account(raw: dict[str, Any]) -> BankAccount:
    """Validates a bank method as typed: both copies must match, the routing number must
    pass the ABA check digit, the account number must be 4 to 17 digits."""
    errors: dict[str, str] = {}
    kind = raw.get("type")
    if kind not in BANK_TYPES:
        errors["method.type"] = "Choose checking or savings."
    holder = _name(raw.get("account_holder_name"), "method.account_holder_name", errors)
    account = clean_digits(raw.get("account_number"))
    routing = clean_digits(raw.get("routing_number"))
    if not re.fullmatch(r"[0-9]{4,17}", account):
        errors["method.account_number"] = "The account number must be 4 to 17 digits."
    elif clean_digits(raw.get("account_number_confirmation")) != account:
        errors["method.account_number_confirmation"] = "The two account numbers do not match."
    if not aba_ok(routing):
        errors["method.routing_number"] = (
            "This is not a valid routing number: check the 9 digits at the bottom left of a check.")
    elif clean_digits(raw.get("routing_number_confirmation")) != routing:
        errors["method.routing_number_confirmation"] = "The two routing numbers do not match."
    if errors:
        raise InvalidInput(errors)
    return BankAccount(str(kind), holder, routing, account)


def parse_card(raw: dict[str, Any], today: date) -> Card:
    """Validates a card as typed: Luhn, one of the four brands, not expired, a CVV of the
    brand's length, a postal code. The CVV is passed to the processor and never kept."""
    errors: dict[str, str] = {}
    holder = _name(raw.get("cardholder_name"), "method.cardholder_name", errors)
    number = clean_digits(raw.get("card_number"))
    brand = None
    if not (12 <= len(number) <= 19) or not luhn_ok(number):
        errors["method.card_number"] = "This card number is not valid: check the digits."
    else:
        brand = card_brand(number)
        if brand is None:
            errors["method.card_number"] = "We accept Visa, MasterCard, American Express and Discover."
    month, year = raw.get("expiry_month"), raw.get("expiry_year")
    if not isinstance(month, int) or not isinstance(year, int) or not 1 <= month <= 12 \
            or not 2000 <= year <= 2100:
        errors["method.expiry_month"] = "Enter the expiry month and year shown on the card."
    elif (year, month) < (today.year, today.month):
        errors["method.expiry_month"] = "This card has expired."
    cvv = raw["cvv"] if isinstance(raw.get("cvv"), str) else ""
    if not re.fullmatch(r"[0-9]{4}" if brand == "amex" else r"[0-9]{3}", cvv):
        errors["method.cvv"] = "Enter the security code on the card."
    postal = raw["postal_code"] if isinstance(raw.get("postal_code"), str) else ""
    if not re.fullmatch(r"[0-9]{5}(-[0-9]{4})?", postal.strip()):
        errors["method.postal_code"] = "Enter the card's billing ZIP code."
    if errors:
        raise InvalidInput(errors)
    assert brand is not None and isinstance(month, int) and isinstance(year, int)
    return Card(holder, number, month, year, cvv, postal.strip(), brand)
