"""Identity's value rules: names, dates of birth, the three kinds of ID. No I/O.

Each `check_*` returns the cleaned value or raises `ValueError` with a message a member can
act on; the message never repeats the value (it may be an SSN).
"""
from __future__ import annotations

import hmac
import re
import unicodedata
from datetime import date, datetime, timedelta

from shared.numbers import is_valid_ban

NAME_MAX = 100
EARLIEST_BIRTH = date(1900, 1, 1)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Letters (any script) and combining marks, joined by single spaces, apostrophes, hyphens or
# periods: "Mary-Jane", "O'Brien", "St. John", "José". Phones type typographic apostrophes
# (’, the iPhone default) and dashes (–): each is the same character as its ASCII form.
_APOSTROPHES = "'’‘ʼ´`′"
_DASHES = "-‐‑‒–—―−"
_NAME_SEPARATORS = " ." + _APOSTROPHES + _DASHES
_FOLD = str.maketrans({**{c: "'" for c in _APOSTROPHES}, **{c: "-" for c in _DASHES}})
_SPACES = re.compile(r"\s+")
# Typed numbers are ASCII digits: `\d` would take Arabic-Indic or fullwidth digits too.
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_SSN = re.compile(r"^[0-9]{3}-?[0-9]{2}-?[0-9]{4}$")
_BAN = re.compile(r"^[0-9]{10}$")
_ENROLLMENT_ID = re.compile(r"^[A-Za-z0-9-]{1,30}$")
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{2,49}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
_PHONE = re.compile(r"^\+?[0-9 ().-]{7,20}$")
LANGUAGES = ("en", "es", "pt", "zh", "ht", "vi", "ru", "ar")


def has_control_chars(value: str) -> bool:
    return bool(_CONTROL.search(value))


def normalize_name(value: str) -> str:
    """The form names are compared in: apostrophes and dashes as their ASCII forms, accents
    dropped (NFKD without combining marks: "María" is "maria"), case-folded, trimmed, inner
    spaces single. Letters stay letters: "M" is still not "Maria"."""
    decomposed = unicodedata.normalize("NFKD", value.translate(_FOLD))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SPACES.sub(" ", bare.casefold().translate(_FOLD)).strip()


def check_name(value: str) -> str:
    if has_control_chars(value):
        raise ValueError("must not contain control characters")
    value = unicodedata.normalize("NFC", value).strip()
    if not value:
        raise ValueError("is required")
    if len(value) > NAME_MAX:
        raise ValueError(f"must be at most {NAME_MAX} characters")
    if not all(unicodedata.category(c)[0] in "LM" or c in _NAME_SEPARATORS for c in value):
        raise ValueError("may contain only letters, spaces, apostrophes, hyphens and periods")
    if not any(unicodedata.category(c)[0] == "L" for c in value):
        raise ValueError("must contain letters")
    return value


def check_birth_date(value: str, today: date) -> date:
    if not isinstance(value, str) or not _DATE.match(value):
        raise ValueError("must be a date written YYYY-MM-DD")
    try:
        born = date.fromisoformat(value)
    except ValueError:
        raise ValueError("is not a real calendar date") from None
    if born > today:
        raise ValueError("cannot be in the future")
    if born < EARLIEST_BIRTH:
        raise ValueError("must be on or after 1900-01-01")
    return born


def check_ssn(value: str) -> str:
    """Nine digits, dashes allowed; returns the digits."""
    if not _SSN.match(value or ""):
        raise ValueError("must be 9 digits (dashes allowed)")
    return value.replace("-", "")


def check_ban(value: str) -> str:
    value = value.strip()
    if not _BAN.match(value):
        raise ValueError("must be 10 digits")
    if not value.startswith("7"):
        raise ValueError("always begins with the number 7")
    if not is_valid_ban(value):
        raise ValueError("is not a valid billing account number: check the digits")
    return value


def check_enrollment_id(value: str) -> str:
    value = value.strip()
    if not _ENROLLMENT_ID.match(value):
        raise ValueError("must be 1 to 30 letters, digits or hyphens")
    return value


def check_username(value: str) -> str:
    if not _USERNAME.match(value):
        raise ValueError("must be 3 to 50 characters: letters, digits, '.', '_' or '-', "
                         "starting with a letter or digit")
    return value


def check_email(value: str) -> str:
    value = value.strip()
    if len(value) > 254 or has_control_chars(value) or not _EMAIL.match(value):
        raise ValueError("is not a valid email address")
    return value


def check_phone(value: str) -> str:
    value = value.strip()
    if not _PHONE.match(value) or sum(c in "0123456789" for c in value) < 7:
        raise ValueError("is not a valid phone number")
    return value


def check_language(value: str) -> str:
    if value not in LANGUAGES:
        raise ValueError(f"must be one of {', '.join(LANGUAGES)}")
    return value


def same_text(a: str, b: str) -> bool:
    """Constant-time equality, so comparison time does not tell how much matched."""
    return hmac.compare_digest(a.encode(), b.encode())


def payable_at(shopped_at: datetime, wait: timedelta) -> datetime:
    """When a plan shopped at `shopped_at` can first be paid."""
    assert shopped_at.tzinfo is not None, "shopped_at must carry a time zone"
    return shopped_at + wait
