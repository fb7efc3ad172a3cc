"""Numbers people type: ASCII digits only, and their check digits (a billing account
number's, a card number's Luhn digit, an ABA routing number's).

`\\d` and `str.isdigit()` accept every script's digits (Arabic-Indic "٠١٢", fullwidth
"０１２", superscripts); a NACHA file, a processor and a database CHECK speak ASCII. Every
typed number is checked with these (or an explicit `[0-9]` pattern), never with `\\d`.

A billing account number is 10 digits: `7` + an 8-digit sequence + a Luhn check digit
computed over the first nine, so a mistyped digit or two swapped neighbours are caught
before a lookup ever reaches a database.
"""
from __future__ import annotations

import re
from typing import TypeGuard

_DIGITS = re.compile(r"[0-9]+")
BAN_PATTERN = r"^7[0-9]{9}$"


def is_digits(text: object, min_len: int = 1, max_len: int | None = None) -> TypeGuard[str]:
    """`text` is a string of ASCII digits only, `min_len` to `max_len` long."""
    return (isinstance(text, str) and _DIGITS.fullmatch(text) is not None
            and min_len <= len(text) <= (max_len if max_len is not None else len(text)))


def luhn_digit(digits: str) -> int:
    """The check digit that makes `digits + check` pass the Luhn test."""
    assert is_digits(digits), "Luhn over ASCII digits only"
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:  # positions that get doubled once the check digit is appended
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return (10 - total % 10) % 10


def luhn_ok(number: object) -> bool:
    """ASCII digits that pass the Luhn test (card numbers; a BAN's last digit)."""
    if not is_digits(number):
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def aba_ok(routing: object) -> bool:
    """An ABA routing number: 9 ASCII digits, not all zeros, whose 3-7-1 weighted sum,
    3*(d1+d4+d7) + 7*(d2+d5+d8) + (d3+d6+d9), is a multiple of 10."""
    if not is_digits(routing, 9, 9) or routing == "000000000":
        return False
    d = [int(c) for c in routing]
    return (3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5] + d[8])) % 10 == 0


def make_ban(sequence: int) -> str:
    """The billing account number of billing's `sequence` (1 to 99,999,999)."""
    assert 0 < sequence < 10**8, "billing account sequence out of range"
    body = f"7{sequence:08d}"
    return body + str(luhn_digit(body))


def is_valid_ban(text: object) -> bool:
    """10 ASCII digits, beginning with 7, the last the Luhn check digit of the first nine."""
    return (is_digits(text, 10, 10) and text[0] == "7"
            and luhn_digit(text[:9]) == int(text[9]))
