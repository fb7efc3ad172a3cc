"""Expected failures of identity's use cases, with the codes and messages the internal API
documents; the HTTP entry point gives each its status."""
from __future__ import annotations

from datetime import datetime

from shared.errors import DomainError, InvalidInput


class IdentityError(DomainError):
    pass


class Throttled(IdentityError):
    code = "throttled"

    def __init__(self, retry_after_s: int) -> None:
        minutes = max(1, -(-retry_after_s // 60))
        super().__init__(f"Too many attempts. Please try again in {minutes} "
                         f"minute{'s' if minutes > 1 else ''}.", retry_after_s=retry_after_s)
        self.retry_after_s = retry_after_s


class NotFound(IdentityError):
    """No member matches; a failed lookup never says which field was wrong."""

    code = "not_found"
    message = ("We could not find a plan with the information you entered. Check your ID, "
               "and that your name and date of birth match your application exactly.")


class NotYetPayable(IdentityError):
    code = "not_yet_payable"
    message = "This plan was shopped less than 4 hours ago. Please try again later."

    def __init__(self, payable_at: datetime) -> None:
        super().__init__(payable_at=payable_at.isoformat())
        self.payable_at = payable_at


class AccountNotReady(IdentityError):
    code = "account_not_ready"
    message = "Your billing account is being set up. Please try again later."


class Conflict(IdentityError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


class WeakPassword(InvalidInput):
    """The password breaks the policy; `field` is where it was typed."""

    def __init__(self, problem: str, field: str = "password") -> None:
        super().__init__(fields={field: problem})
        self.problem = problem


class InvalidCredentials(IdentityError):
    code = "invalid_credentials"
    message = "The username or password is not correct."


class PasswordRequired(InvalidInput):
    """Changing the email address needs the account's current password."""

    def __init__(self) -> None:
        super().__init__(fields={"current_password": "is required to change the email address"})


class WrongPassword(InvalidInput):
    """The current password given to confirm a change is not the account's."""

    def __init__(self) -> None:
        super().__init__(fields={"current_password": "is not correct"})


class InvalidToken(IdentityError):
    code = "invalid_or_expired_token"
    message = "This reset link is not valid or has expired. Please ask for a new one."
