"""Who pays a premium (45 CFR 156.1250): the member, an authorised representative, or a
third party the issuer must accept payments from (Ryan White HIV/AIDS programs, Indian
tribes, tribal organizations, urban Indian organizations, state and federal government
programs). Pure rules: no I/O. Errors are `InvalidInput` with {field: plain message}.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.payments.domain.methods import InvalidInput

MEMBER = "member"
PAYER_KINDS = ("member", "representative", "ryan_white", "tribe", "tribal_organization",
               "urban_indian_organization", "government_program")
NAME_MAX = 100
EMAIL_MAX = 254


@dataclass(frozen=True)
class Payer:
    kind: str = MEMBER
    name: str | None = None   # a third party's name, as typed (required for one)
    email: str | None = None  # where the payer's own receipt goes, when given

    @property
    def third_party(self) -> bool:
        return self.kind != MEMBER


def _text(value: Any) -> str:
    return " ".join(value.split()) if isinstance(value, str) else ""


def parse_payer(raw: Any) -> Payer:
    """The payer as typed ({kind, name?, email?}); left out or null: the member. A member
    paying for themselves keeps no name or email of a payer."""
    if raw is None:
        return Payer()
    if not isinstance(raw, dict):
        raise InvalidInput({"payer": "payer is {kind, name, email}."})
    kind = raw.get("kind", MEMBER)
    if kind not in PAYER_KINDS:
        raise InvalidInput({"payer.kind": "Who is paying must be one of: " + ", ".join(PAYER_KINDS) + "."})
    if kind == MEMBER:
        return Payer()
    problems: dict[str, str] = {}
    name = _text(raw.get("name"))
    if not name:
        problems["payer.name"] = "Enter the name of who is paying."
    elif len(name) > NAME_MAX or not name.isprintable():
        problems["payer.name"] = f"The payer's name is at most {NAME_MAX} characters."
    email = raw.get("email")
    email = email.strip() if isinstance(email, str) else None
    if email and ("@" not in email or len(email) > EMAIL_MAX or any(c.isspace() for c in email)):
        problems["payer.email"] = "Enter an email address for the payer's receipt."
    if problems:
        raise InvalidInput(problems)
    return Payer(kind=kind, name=name, email=email or None)
