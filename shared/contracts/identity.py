"""`identity.v1`: what the identity service publishes about members and portal accounts.
Keyed by member id. No event carries an SSN (not even its last four digits) or a password."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MEMBER_REGISTERED = "member.registered"
MEMBER_CONTACT_CHANGED = "member.contact_changed"
MEMBER_LOGIN_THROTTLED = "member.login_throttled"
MEMBER_PASSWORD_CHANGED = "member.password_changed"
MEMBER_EMAIL_CHANGED = "member.email_changed"
MEMBER_REGISTRATION_REPEATED = "member.registration_repeated"
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


class MemberLoginThrottledData(_Data):
    """Log-ins to the account are paused after repeated wrong passwords (the member is told)."""
    member_id: str
    billing_account_numbers: list[str]
    retry_at: str = Field(description="ISO 8601 time with zone: log-ins are refused until then")
    email: str | None = None
    phone: str | None = None
    language: str = "en"


class MemberPasswordChangedData(_Data):
    """The account's password was changed (by a reset link); every other session ended."""
    member_id: str
    changed_at: str = Field(description="ISO 8601 time with zone")
    email: str | None = None
    phone: str | None = None
    language: str = "en"


class MemberEmailChangedData(_Data):
    """The account's email address changed: both addresses are told."""
    member_id: str
    old_email: str | None = None
    new_email: str
    changed_at: str = Field(description="ISO 8601 time with zone")
    language: str = "en"


class MemberRegistrationRepeatedData(_Data):
    """Someone registered again for a member who already has a portal account: the answer
    was the same as a new registration's; the account's own address is told instead."""
    member_id: str
    username: str
    email: str | None = None
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
