"""Billing account numbers: 10 digits, always beginning with 7, the last a check digit.

Layout: `7` + an 8-digit sequence + a Luhn check digit computed over the first nine digits
(the same check card numbers use), so a mistyped digit or two swapped neighbours are caught
before a lookup ever reaches the database.
"""
from __future__ import annotations


def luhn_digit(digits: str) -> int:
    """The check digit that makes `digits + check` pass the Luhn test."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:  # positions that get doubled once the check digit is appended
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return (10 - total % 10) % 10


def make_ban(sequence: int) -> str:
    assert 0 < sequence < 10**8, "billing account sequence out of range"
    body = f"7{sequence:08d}"
    return body + str(luhn_digit(body))


def is_valid_ban(text: str) -> bool:
    return (len(text) == 10 and text.isdigit() and text[0] == "7"
            and luhn_digit(text[:9]) == int(text[9]))
