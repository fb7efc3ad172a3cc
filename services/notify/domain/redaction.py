"""The last check before a message leaves: no full SSN, bank account or card number.

Events never carry those numbers, and templates show only the last four digits; this check
still scans every rendered part, because a careless template or a producer's bug must not
become a leak. Known-safe identifiers of the message (a confirmation number, the support
phone number, a reset link) are set aside before the scan. Anything left that looks like
an SSN (9 digits, dashed or not) or an account or card number (9 to 19 digits, spaced or
dashed) is masked down to its last four digits.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

_SECRET = re.compile(r"(?<![\w.,$])(?:\d[ -]?){8,18}\d(?![\w])")
# A cheap first look: most messages have no 9-digit run at all and skip the full scan.
_CANDIDATE = re.compile(r"\d[\d -]{7,}\d")


def find_secrets(text: str, allowed: Iterable[str] = ()) -> list[str]:
    """The digit runs in `text` that could be a full SSN, account or card number."""
    return _SECRET.findall(_without(text, allowed))


def redact_secrets(text: str, allowed: Iterable[str] = ()) -> tuple[str, int]:
    """`text` with each suspicious digit run masked to its last four; and how many."""
    kept = [a for a in allowed if a]
    if not _CANDIDATE.search(_without(text, kept)):
        return text, 0
    placeholders = {f"\x00{i}\x00": value for i, value in enumerate(kept)}
    for token, value in placeholders.items():
        text = text.replace(value, token)
    count = 0

    def _mask(match: re.Match[str]) -> str:
        nonlocal count
        count += 1
        digits = re.sub(r"\D", "", match.group(0))
        return f"****{digits[-4:]}"

    text = _SECRET.sub(_mask, text)
    for token, value in placeholders.items():
        text = text.replace(token, value)
    return text, count


def _without(text: str, allowed: Iterable[str]) -> str:
    for value in allowed:
        if value:
            text = text.replace(value, " ")
    return text
