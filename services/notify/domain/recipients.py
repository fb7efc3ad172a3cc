"""Who receives a message, on which channels, in which language (no I/O).

A profile is what notify knows about an account or a member: the household's contact from
enrollment, overridden by the portal member's own contact and preferences from identity.
The event's own contact (a payer's email, the address a reset was asked for) wins for the
addresses. Without a portal member, email is on and SMS is off: texts need the member's
consent, which only the portal's preferences give.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.notify.domain.format import normalize_language
from services.notify.domain.messages import Intent


@dataclass(frozen=True)
class Profile:
    email: str | None = None
    phone: str | None = None
    language: str = "en"
    email_enabled: bool = True
    sms_enabled: bool = False
    first_name: str | None = None
    plan_type: str | None = None
    member_id: str | None = None


@dataclass(frozen=True)
class Delivery:
    channel: str  # "email" | "sms"
    recipient: str
    language: str


def deliveries(intent: Intent, profile: Profile) -> list[Delivery]:
    """One delivery per channel this message goes out on (possibly none)."""
    contact: dict[str, Any] = intent.contact or {}
    email = (contact.get("email") or profile.email or "").strip()
    phone = _phone(contact.get("phone") or profile.phone)
    language = normalize_language(contact.get("language") or profile.language)
    out: list[Delivery] = []
    email_on = profile.email_enabled or intent.policy in ("email_always", "email_only")
    if email and "@" in email and email_on:
        out.append(Delivery("email", email, language))
    if phone and profile.sms_enabled and intent.policy != "email_only":
        out.append(Delivery("sms", phone, language))
    previous = (intent.previous_email or "").strip()
    if previous and "@" in previous and previous.lower() != email.lower():
        out.append(Delivery("email", previous, language))
    return out


def _phone(value: str | None) -> str | None:
    if not value:
        return None
    digits = "".join(ch for ch in value if ch.isdigit())
    if len(digits) == 10:
        return "+1" + digits
    if len(digits) == 11 and digits.startswith("1"):
        return "+" + digits
    return ("+" + digits) if 8 <= len(digits) <= 15 else None
