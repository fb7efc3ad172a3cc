"""Expected failures of identity's use cases; the HTTP entry points map them to answers."""
from __future__ import annotations

from datetime import datetime


class IdentityError(Exception):
    pass


class Throttled(IdentityError):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__("throttled")
        self.retry_after_s = retry_after_s


class NotFound(IdentityError):
    pass


class NotYetPayable(IdentityError):
    def __init__(self, payable_at: datetime) -> None:
        super().__init__("not yet payable")
        self.payable_at = payable_at


class AccountNotReady(IdentityError):
    pass


class Conflict(IdentityError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class WeakPassword(IdentityError):
    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


class InvalidCredentials(IdentityError):
    pass


class PasswordRequired(IdentityError):
    """Changing the email address needs the account's current password."""


class WrongPassword(IdentityError):
    """The current password given to confirm a change is not the account's."""


class InvalidToken(IdentityError):
    pass
