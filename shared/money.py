"""Money is integer cents everywhere; the API shows decimal strings ("123.45")."""
from __future__ import annotations

import re

_AMOUNT = re.compile(r"^(0|[1-9]\d{0,9})(\.\d{1,2})?$")


class InvalidAmount(ValueError):
    """A typed amount that is not a plain positive decimal with at most two places."""


def parse_amount(text: str) -> int:
    """'123.45' -> 12345. Refuses signs, exponents, spaces, commas and a third decimal."""
    if not isinstance(text, str) or not _AMOUNT.match(text):
        raise InvalidAmount("Enter an amount in dollars and cents, like 125.50.")
    whole, _, frac = text.partition(".")
    return int(whole) * 100 + int((frac + "00")[:2])


def format_cents(cents: int) -> str:
    """12345 -> '123.45'; -500 -> '-5.00'."""
    assert isinstance(cents, int) and not isinstance(cents, bool), "money is integer cents"
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole}.{frac:02d}"


def format_dollars(cents: int) -> str:
    """How a person reads an amount: 123456 -> '$1,234.56' (never negative: the words around
    it say whether it is owed or paid)."""
    assert isinstance(cents, int) and not isinstance(cents, bool), "money is integer cents"
    whole, frac = divmod(abs(cents), 100)
    return f"${whole:,}.{frac:02d}"
