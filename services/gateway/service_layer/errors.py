"""Expected failures of the gateway's use cases, with the codes and messages the public API
documents; the entry points (entrypoints/errors.py) give each its status. A service's own
refusal comes through as the upstream adapter's `Refused`, which keeps the service's status."""
from __future__ import annotations

from shared.errors import DomainError


class NotFound(DomainError):
    code = "not_found"
    message = "Not found."


class NoMethod(DomainError):
    code = "no_method"
    message = "You have no saved payment method with this id."


class Unavailable(DomainError):
    """A service behind the gateway does not answer; `service` names it in the answer."""

    code = "service_unavailable"
    message = "This part of the site is not answering right now. Please try again in a few minutes."

    def __init__(self, service: str) -> None:
        super().__init__(service=service)


class AccountNotReady(DomainError):
    code = "account_not_ready"
    message = "Your account is being set up. Please try again in a few minutes."


class CreditNotRecorded(DomainError):
    """Billing shows the credit, but payments has not recorded it yet (it hears of it from
    billing's events, a moment later): nothing was refunded; the member can ask again."""

    code = "credit_not_recorded"
    message = "Your credit is still being recorded. Please ask again in a minute."


class LookupExpired(DomainError):
    """The guest's lookup token is not (or no longer) valid."""

    code = "invalid_token"
    message = "Your session has ended. Please look up your account again."


class AmountChanged(DomainError):
    """payments refused the payment: the total moved since the payer reviewed it."""

    code = "amount_changed"

    def __init__(self, message: str, current_amount: str | None) -> None:
        super().__init__(message, current_amount=current_amount)


class CaptchaExpired(DomainError):
    code = "captcha_expired"
    message = "This picture has expired. Get a new one."


class CaptchaRequired(DomainError):
    code = "captcha_required"
    message = "Enter the characters you see in the picture."


class CaptchaInvalid(DomainError):
    code = "captcha_invalid"
    message = "The characters did not match the picture. Try the new picture."
