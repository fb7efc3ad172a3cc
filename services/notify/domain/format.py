"""Amounts, dates and contact details as a member reads them, per language.

Spanish follows the convention of US agencies writing in Spanish for US residents
(HealthCare.gov en español, the IRS): the dollar sign first and the US separators,
"$1,234.56", so an amount reads the same on a bill and in a message. Dates are written out:
"November 23, 2026" / "23 de noviembre de 2026".
"""
from __future__ import annotations

from datetime import date, datetime, timezone

from shared.calendar import NEW_YORK

LANGUAGES = ("en", "es")

_MONTHS = {
    "en": ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"),
    "es": ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
           "septiembre", "octubre", "noviembre", "diciembre"),
}


def normalize_language(value: str | None) -> str:
    """'es', 'es-US', 'spa', 'Spanish', 'Español' -> 'es'; anything else -> 'en'."""
    text = (value or "").strip().lower()
    if text.startswith(("es", "spa")):
        return "es"
    return "en"


def format_money(cents: int, language: str = "en") -> str:
    """12345678 -> '$123,456.78' (both languages, see the module docstring)."""
    assert isinstance(cents, int) and not isinstance(cents, bool), "money is integer cents"
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}${whole:,}.{frac:02d}"


def format_date(value: date | str | None, language: str = "en") -> str:
    """date(2026, 11, 23) -> 'November 23, 2026' / '23 de noviembre de 2026'."""
    if value is None or value == "":
        return ""
    day = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    month = _MONTHS[normalize_language(language)][day.month - 1]
    if normalize_language(language) == "es":
        return f"{day.day} de {month} de {day.year}"
    return f"{month} {day.day}, {day.year}"


def format_month(value: str, language: str = "en") -> str:
    """'2026-12' -> 'December 2026' / 'diciembre de 2026'."""
    year, month = (int(p) for p in value.split("-")[:2])
    name = _MONTHS[normalize_language(language)][month - 1]
    return f"{name} de {year}" if normalize_language(language) == "es" else f"{name} {year}"


def last4(value: str | None) -> str:
    digits = "".join(ch for ch in (value or "") if ch.isalnum())
    return digits[-4:]


def mask_email(address: str) -> str:
    """'maria.santos@example.org' -> 'm***@example.org'."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def mask_phone(number: str) -> str:
    """'6175550101' -> '***-***-0101'."""
    return f"***-***-{last4(number)}"


def mask_recipient(channel: str, recipient: str) -> str:
    return mask_email(recipient) if channel == "email" else mask_phone(recipient)


def format_datetime(value: datetime | str | None, language: str = "en") -> str:
    """An instant in New York time: 'November 23, 2026 at 3:05 PM ET' /
    '23 de noviembre de 2026 a las 3:05 p. m. ET'."""
    if value is None or value == "":
        return ""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    local = moment.astimezone(NEW_YORK)
    day = format_date(local.date(), language)
    hour = local.hour % 12 or 12
    if normalize_language(language) == "es":
        return f"{day} a las {hour}:{local:%M} {'a. m.' if local.hour < 12 else 'p. m.'} ET"
    return f"{day} at {hour}:{local:%M} {'AM' if local.hour < 12 else 'PM'} ET"
