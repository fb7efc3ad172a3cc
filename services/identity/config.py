"""Settings of the identity service (environment variables prefixed IDENTITY_)."""
from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from shared.contracts.topics import Groups
from shared.settings import PLACEHOLDER_PREFIX, ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="IDENTITY_", extra="ignore", populate_by_name=True)

    database_url: str = "postgresql://postgres@127.0.0.1:55432/identity"
    http_port: int = 8081
    # The intake consumer group (tests use one of their own so runs never share offsets).
    intake_group: str = Groups.IDENTITY_INTAKE

    # SSNs: a keyed hash for lookup, AES-GCM for the last four digits. Keys are secrets
    # (any string; the AES key is derived from it with SHA-256). `ssn_encryption_keys`
    # maps key id -> secret (JSON in the environment); new values are encrypted with
    # `ssn_encryption_key_id`, old ones stay readable while their key is listed.
    ssn_hmac_key: str = "dev-only-identity-ssn-hmac-key"
    ssn_encryption_keys: dict[str, str] = {"k1": "dev-only-identity-ssn-aes-key"}
    ssn_encryption_key_id: str = "k1"

    # Lookup throttling (PostgreSQL counters, fixed windows; shared by every replica). Every
    # attempt counts against its client address; against the target ID only a failed one
    # does (a match, or an attempt already refused, is given back), per client address and
    # for all addresses together, so a stranger at one address cannot lock a member out.
    lookup_ip_limit: int = Field(default=30, ge=1)          # attempts per client address
    lookup_ip_window_s: int = Field(default=60, ge=1)
    lookup_pair_limit: int = Field(default=5, ge=1)         # failures per (target ID, address)
    lookup_pair_window_s: int = Field(default=900, ge=1)
    lookup_target_limit: int = Field(default=20, ge=1)      # failures per target ID, all addresses
    lookup_target_window_s: int = Field(default=900, ge=1)
    login_ip_limit: int = Field(default=60, ge=1)           # login attempts per address
    login_ip_window_s: int = Field(default=60, ge=1)
    payable_after_shopping_s: int = Field(default=4 * 3600, ge=0)
    # Lookups waiting at the same moment share one statement: at most this many per batch,
    # and this many batches running at once (each on its own connection).
    lookup_batch_max: int = Field(default=64, ge=1, le=1000)
    lookup_batches_in_flight: int = Field(default=2, ge=1, le=100)

    # Portal accounts.
    password_min_length: int = Field(default=12, ge=8, le=64)
    password_max_length: int = Field(default=128, ge=64, le=1024)
    # Wrong passwords (docs/operations.md "Log-in throttling"): from the
    # `login_throttle_after`-th failure in a row for one username from one address, and the
    # `login_account_throttle_after`-th for one username from anywhere, log-ins pause for
    # `login_throttle_base_s`, doubling with each further failure up to `login_throttle_max_s`.
    # A run of failures is forgotten after `login_failure_memory_s` without one.
    login_throttle_after: int = Field(default=5, ge=1, le=100)
    login_account_throttle_after: int = Field(default=20, ge=1, le=1000)
    login_throttle_base_s: int = Field(default=30, ge=1, le=3600)
    login_throttle_max_s: int = Field(default=900, ge=1, le=86400)
    login_failure_memory_s: int = Field(default=86400, ge=60)
    password_reset_ttl_s: int = Field(default=1800, ge=1)
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=8)
    argon2_parallelism: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _keys_usable(self) -> "Settings":
        if self.ssn_encryption_key_id not in self.ssn_encryption_keys:
            raise ValueError("ssn_encryption_key_id must name a key of ssn_encryption_keys")
        if self.app_env == "production":
            for key_id, secret in self.ssn_encryption_keys.items():
                if secret.startswith(PLACEHOLDER_PREFIX):
                    raise ValueError(f"ssn_encryption_keys[{key_id}] still has its development placeholder")
        return self
