"""Settings shared by every service; each service subclasses with its own env prefix.

`KAFKA_BOOTSTRAP`, `APP_ENV`, `PUBLIC_URL` and `SERVICE_KEYS` are read without a prefix
because one host runs all services against one broker for one portal with one set of
callers; everything else is `<SERVICE>_<FIELD>`.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.service_auth import CALLERS, TOKEN_LIFETIME_MAX_S

PLACEHOLDER_PREFIX = "dev-only-"
SERVICE_KEY_LENGTH_MIN = 32  # characters of a production service key


def _dev_service_keys() -> dict[str, dict[str, str]]:
    return {caller: {"dev": f"{PLACEHOLDER_PREFIX}{caller}-service-key"} for caller in CALLERS}


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SERVICE_", extra="ignore",
                                      populate_by_name=True)

    app_env: Literal["development", "test", "production"] = Field(
        default="development", validation_alias="APP_ENV")
    kafka_bootstrap: str = Field(default="127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP")
    # The portal's address as members reach it: every link in an email, an SMS or a reset
    # message is built from it, never from a request.
    public_url: str = Field(default="http://127.0.0.1:8080", validation_alias="PUBLIC_URL")
    database_url: str = "postgresql://postgres@127.0.0.1:55432/postgres"
    db_pool_min: int = Field(default=2, ge=1, le=100)
    db_pool_max: int = Field(default=10, ge=1, le=200)
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8000, ge=1, le=65535)
    log_level: str = "INFO"
    consumer_attempts_max: int = Field(default=3, ge=1, le=20)
    # Where a consumer group with no committed offset starts: "earliest" so a new service
    # misses nothing; tests that start a fresh group beside a busy topic use "latest".
    consumer_offset_reset: Literal["earliest", "latest"] = "earliest"
    run_relay: bool = True
    run_consumers: bool = True
    # Service-to-service tokens (shared/service_auth.py): every calling identity's keys,
    # {caller: {key id: secret}} as JSON. A caller signs with its first key; a service
    # accepts any key listed, so a new key is listed second, then first, then the old one
    # dropped (docs/operations.md "Rotating the service keys").
    service_keys: dict[str, dict[str, str]] = Field(default_factory=_dev_service_keys,
                                                    validation_alias="SERVICE_KEYS")
    service_token_ttl_s: int = Field(default=60, ge=20, le=TOKEN_LIFETIME_MAX_S,
                                     validation_alias="SERVICE_TOKEN_TTL_S")

    @model_validator(mode="after")
    def _no_placeholder_secrets_in_production(self) -> "ServiceSettings":
        if self.app_env == "production":
            for name, value in self:
                if isinstance(value, str) and value.startswith(PLACEHOLDER_PREFIX):
                    raise ValueError(f"{name} still has its development placeholder")
        for caller, keys in self.service_keys.items():
            if not keys or not all(key_id and secret for key_id, secret in keys.items()):
                raise ValueError(f"service_keys[{caller}] needs at least one key id and secret")
            if self.app_env == "production":
                for key_id, secret in keys.items():
                    if secret.startswith(PLACEHOLDER_PREFIX):
                        raise ValueError(f"service_keys[{caller}][{key_id}] still has its "
                                         "development placeholder")
                    if len(secret) < SERVICE_KEY_LENGTH_MIN:
                        raise ValueError(f"service_keys[{caller}][{key_id}] is shorter than "
                                         f"{SERVICE_KEY_LENGTH_MIN} characters")
        return self
