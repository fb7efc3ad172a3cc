"""Lockout rules of portal accounts. No I/O."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class LoginState:
    failed_logins: int
    locked_until: datetime | None

    def is_locked(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until

    def after_failure(self, now: datetime, failures_max: int, lockout: timedelta) -> "LoginState":
        """One more failed password; the `failures_max`-th locks the account for `lockout`."""
        assert not self.is_locked(now), "a locked account does not check passwords"
        failures = self.failed_logins + 1
        if failures >= failures_max:
            return LoginState(0, now + lockout)
        return LoginState(failures, None)

    @staticmethod
    def after_success() -> "LoginState":
        return LoginState(0, None)
