"""`identity.v1`: what the identity service publishes about members and portal accounts.
Keyed by member id. No event carries an SSN (not even its last four digits) or a password."""
from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from shared.contracts.base import Payload

MEMBER_REGISTERED = "member.registered"
MEMBER_CONTACT_CHANGED = "member.contact_changed"
MEMBER_LOGIN_THROTTLED = "member.login_throttled"
MEMBER_PASSWORD_CHANGED = "member.password_changed"
MEMBER_EMAIL_CHANGED = "member.email_changed"
MEMBER_REGISTRATION_REPEATED = "member.registration_repeated"
PASSWORD_RESET_REQUESTED = "password.reset_requested"
USERNAME_REMINDER_REQUESTED = "username.reminder_requested"


class MemberRegisteredData(Payload):
    EVENT_TYPE: ClassVar[str] = MEMBER_REGISTERED
    member_id: str
    username: str
    first_name: str
    last_name: str
    billing_account_numbers: list[str]
    email: str
    phone: str | None = None
    language: str = "en"


class MemberContactChangedData(Payload):
    EVENT_TYPE: ClassVar[str] = MEMBER_CONTACT_CHANGED
    member_id: str
    billing_account_numbers: list[str]
    email: str | None = None
    phone: str | None = None
    language: str = "en"
    email_enabled: bool = True
    sms_enabled: bool = False


class MemberLoginThrottledData(Payload):
    """Log-ins to the account are paused after repeated wrong passwords (the member is told)."""
    EVENT_TYPE: ClassVar[str] = MEMBER_LOGIN_THROTTLED
    member_id: str
    billing_account_numbers: list[str]
    retry_at: str = Field(description="ISO 8601 time with zone: log-ins are refused until then")
    email: str | None = None
    phone: str | None = None
    language: str = "en"


class MemberPasswordChangedData(Payload):
    """The account's password was changed (by a reset link); every other session ended."""
    EVENT_TYPE: ClassVar[str] = MEMBER_PASSWORD_CHANGED
    member_id: str
    changed_at: str = Field(description="ISO 8601 time with zone")
    email: str | None = None
    phone: str | None = None
    language: str = "en"


class MemberEmailChangedData(Payload):
    """The account's email address changed: both addresses are told."""
    EVENT_TYPE: ClassVar[str] = MEMBER_EMAIL_CHANGED
    member_id: str
    old_email: str | None = None
    new_email: str
    changed_at: str = Field(description="ISO 8601 time with zone")
    language: str = "en"


class MemberRegistrationRepeatedData(Payload):
    """Someone registered again for a member who already has a portal account: the answer
    was the same as a new registration's; the account's own address is told instead."""
    EVENT_TYPE: ClassVar[str] = MEMBER_REGISTRATION_REPEATED
    member_id: str
    username: str
    email: str | None = None
    language: str = "en"


class PasswordResetRequestedData(Payload):
    EVENT_TYPE: ClassVar[str] = PASSWORD_RESET_REQUESTED
    member_id: str
    email: str | None = None
    phone: str | None = None
    language: str = "en"
    reset_url: str = Field(description="carries the single-use token; identity keeps only its hash")
    expires_at: str = Field(description="ISO 8601 time with zone")


class UsernameReminderRequestedData(Payload):
    EVENT_TYPE: ClassVar[str] = USERNAME_REMINDER_REQUESTED
    member_id: str
    username: str
    email: str | None = None
    language: str = "en"
