"""Billing account numbers: 10 digits, always beginning with 7, the last a check digit.
The rules live in shared/numbers.py, since every service checks the numbers it is given.

Layout: `7` + an 8-digit sequence + a Luhn check digit computed over the first nine digits
(the same check card numbers use), so a mistyped digit or two swapped neighbours are caught
before a lookup ever reaches the database.
"""
from __future__ import annotations

from shared.numbers import is_valid_ban, luhn_digit, make_ban

__all__ = ["is_valid_ban", "luhn_digit", "make_ban"]
