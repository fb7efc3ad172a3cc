"""Money is integer cents everywhere; the API shows decimal strings ("123.45")."""
from __future__ import annotations

import re

# ASCII digits only ([0-9], never \d: that also matches other scripts' digits).
_AMOUNT = re.compile(r"^(0|[1-9][0-9]{0,9})(\.[0-9]{1,2})?$")
# As people type an amount: an optional "$", thousands grouped by commas ("1,000.00").
_TYPED = re.compile(r"^\$?((?:[1-9][0-9]{0,2}(?:,[0-9]{3})+)|0|[1-9][0-9]{0,9})(\.[0-9]{1,2})?$")


class InvalidAmount(ValueError):
    """A typed amount that is not a plain positive decimal with at most two places."""


def parse_amount(text: str) -> int:
    """'123.45' -> 12345. Refuses signs, exponents, spaces, commas, a third decimal
    and any digit that is not ASCII 0-9."""
    if not isinstance(text, str) or not _AMOUNT.match(text):
        raise InvalidAmount("Enter an amount in dollars and cents, like 125.50.")
    whole, _, frac = text.partition(".")
    return int(whole) * 100 + int((frac + "00")[:2])


def parse_typed_amount(text: str) -> int:
    """What a person types into an amount field: '$25', '25', '1,000.00', ' $1,000 ' ->
    cents. Commas only between groups of three digits; otherwise as `parse_amount`."""
    if not isinstance(text, str):
        raise InvalidAmount("Enter an amount in dollars and cents, like 125.50.")
    text = text.strip()
    match = _TYPED.match(text)
    if not match:
        raise InvalidAmount("Enter an amount in dollars and cents, like 125.50.")
    return parse_amount(match.group(1).replace(",", "") + (match.group(2) or ""))


def format_cents(cents: int) -> str:
    """12345 -> '123.45'; -500 -> '-5.00'."""
    assert isinstance(cents, int) and not isinstance(cents, bool), "money is integer cents"
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole}.{frac:02d}"


def format_dollars(cents: int) -> str:
    """What a person reads: 100000 -> '$1,000.00'; -500 -> '-$5.00'."""
    assert isinstance(cents, int) and not isinstance(cents, bool), "money is integer cents"
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}${whole:,}.{frac:02d}"
