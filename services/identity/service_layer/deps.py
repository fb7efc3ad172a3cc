"""What the use cases need, built once from the settings: keys, hashers, rules, the clock."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from services.identity.adapters.crypto import Passwords, SsnVault
from services.identity.adapters.throttle import Rule
from services.identity.config import Settings
from services.identity.domain.accounts import Backoff
from services.identity.domain.passwords import PasswordPolicy, load_common_passwords
from shared.calendar import Clock


def utcnow() -> datetime:
    """Identity's clock: the instants it stores and compares are kept in UTC."""
    return datetime.now(timezone.utc)


@dataclass
class Deps:
    settings: Settings
    vault: SsnVault
    passwords: Passwords
    policy: PasswordPolicy
    clock: Clock = field(default=utcnow)
    # The lookup path's own pool: its connections skip asyncpg's reset query on release (one
    # round trip saved per lookup), safe because lookups leave no session state behind.
    lookup_pool: Any = None
    # Batches the lookups waiting at one moment into one statement (adapters/batching.py),
    # on the lookup pool; without it (before start) each lookup runs alone.
    lookup_batcher: Any = None
    # Gives back the per-ID hits of the lookups that did not fail, many in one statement.
    refund_batcher: Any = None

    @classmethod
    def build(cls, s: Settings) -> Deps:
        return cls(
            settings=s,
            vault=SsnVault(s.ssn_hmac_key, s.ssn_encryption_keys, s.ssn_encryption_key_id),
            passwords=Passwords(s.argon2_time_cost, s.argon2_memory_kib, s.argon2_parallelism),
            policy=PasswordPolicy(load_common_passwords(), s.password_min_length,
                                  s.password_max_length))

    @property
    def lookup_ip(self) -> Rule:
        return Rule("lookup_ip", self.settings.lookup_ip_limit, self.settings.lookup_ip_window_s)

    @property
    def lookup_pair(self) -> Rule:
        return Rule("lookup_pair", self.settings.lookup_pair_limit, self.settings.lookup_pair_window_s)

    @property
    def lookup_target(self) -> Rule:
        return Rule("lookup_target", self.settings.lookup_target_limit,
                    self.settings.lookup_target_window_s)

    @property
    def login_ip(self) -> Rule:
        return Rule("login_ip", self.settings.login_ip_limit, self.settings.login_ip_window_s)

    @property
    def login_backoffs(self) -> tuple[tuple[str, Backoff], ...]:
        """(scope, rule) of log-in throttling, in the order rows are locked."""
        s = self.settings
        return (("pair", Backoff(s.login_throttle_after, s.login_throttle_base_s, s.login_throttle_max_s)),
                ("user", Backoff(s.login_account_throttle_after, s.login_throttle_base_s,
                                 s.login_throttle_max_s)))

    @property
    def payable_wait(self) -> timedelta:
        return timedelta(seconds=self.settings.payable_after_shopping_s)

