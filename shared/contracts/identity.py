"""`identity.v1`: what the identity service publishes about members and portal accounts.
Keyed by member id. No event carries an SSN (not even its last four digits) or a password."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MEMBER_REGISTERED = "member.registered"
MEMBER_CONTACT_CHANGED = "member.contact_changed"
MEMBER_LOCKED_OUT = "member.locked_out"
PASSWORD_RESET_REQUESTED = "password.reset_requested"
USERNAME_REMINDER_REQUESTED = "username.reminder_requested"


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True)


class MemberRegisteredData(_Data):
    member_id: str
    username: str
    first_name: str
    last_name: str
    billing_account_numbers: list[str]
    email: str
    phone: str | None = None
    language: str = "en"


class MemberContactChangedData(_Data):
    member_id: str
    billing_account_numbers: list[str]
    email: str | None = None
    phone: str | None = None
    language: str = "en"
    email_enabled: bool = True
    sms_enabled: bool = False


class MemberLockedOutData(_Data):
    member_id: str
    billing_account_numbers: list[str]
    locked_until: str = Field(description="ISO 8601 time with zone")
    email: str | None = None
    phone: str | None = None
    language: str = "en"


class PasswordResetRequestedData(_Data):
    member_id: str
    email: str | None = None
    phone: str | None = None
    language: str = "en"
    reset_url: str = Field(description="carries the single-use token; identity keeps only its hash")
    expires_at: str = Field(description="ISO 8601 time with zone")


class UsernameReminderRequestedData(_Data):
    member_id: str
    username: str
    email: str | None = None
    language: str = "en"
