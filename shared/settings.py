"""Settings shared by every service; each service subclasses with its own env prefix.

`KAFKA_BOOTSTRAP`, `APP_ENV`, `PUBLIC_URL` and `SERVICE_KEYS` are read without a prefix
because one host runs all services against one broker for one portal with one set of
callers; everything else is `<SERVICE>_<FIELD>`.
So are the Kafka credentials (`KAFKA_SECURITY_PROTOCOL`, `KAFKA_SASL_MECHANISM`,
`KAFKA_SASL_USERNAME`, `KAFKA_SASL_PASSWORD`): each process is given its own user's.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.kafka import KafkaAuth, SaslMechanism, SecurityProtocol
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
    # PLAINTEXT (no credentials) by default; the secure profile and docker compose use
    # SASL_PLAINTEXT with SCRAM-SHA-512 and a user per service.
    kafka_security_protocol: SecurityProtocol = Field(
        default="PLAINTEXT", validation_alias="KAFKA_SECURITY_PROTOCOL")
    kafka_sasl_mechanism: SaslMechanism = Field(
        default="SCRAM-SHA-512", validation_alias="KAFKA_SASL_MECHANISM")
    kafka_sasl_username: str = Field(default="", validation_alias="KAFKA_SASL_USERNAME")
    kafka_sasl_password: str = Field(default="", validation_alias="KAFKA_SASL_PASSWORD", repr=False)
    # The portal's address as members reach it: every link in an email, an SMS or a reset
    # message is built from it, never from a request.
    public_url: str = Field(default="http://127.0.0.1:8080", validation_alias="PUBLIC_URL")
    # Traces go over OTLP/HTTP to this collector (e.g. http://otel-collector:4318); unset,
    # tracing is off.
    otel_exporter_otlp_endpoint: str | None = Field(default=None,
                                                    validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT")
    database_url: str = "postgresql://postgres@127.0.0.1:55432/postgres"
    db_pool_min: int = Field(default=2, ge=1, le=100)
    db_pool_max: int = Field(default=10, ge=1, le=200)
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8000, ge=1, le=65535)
    log_level: str = "INFO"
    consumer_attempts_max: int = Field(default=3, ge=1, le=20)
    # An event of a type its topic's contract does not list is counted and skipped; with
    # this on, it is dead-lettered instead (contract drift then shows in `dlq.<group>`).
    consumer_dead_letter_unknown_types: bool = False
    # A consumer that stops heartbeating (a crash) loses its partitions after this long;
    # 6 s is the broker's least by default (group.min.session.timeout.ms), Kafka's 10 s.
    consumer_session_timeout_ms: int = Field(default=6000, ge=1000, le=300_000)
    consumer_heartbeat_interval_ms: int = Field(default=2000, ge=100, le=60_000)
    # Where a consumer group with no committed offset starts: "earliest" so a new service
    # misses nothing; tests that start a fresh group beside a busy topic use "latest".
    consumer_offset_reset: Literal["earliest", "latest"] = "earliest"
    # Dead letters' originals are sealed (AES-GCM) in the service's `dead_letters` table:
    # key id -> secret (JSON in the environment); new rows use `dead_letter_key_id`.
    dead_letter_keys: dict[str, str] = {"k1": "dev-only-dead-letter-key"}
    dead_letter_key_id: str = "k1"
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

    def kafka_auth(self) -> KafkaAuth:
        return KafkaAuth(self.kafka_security_protocol, self.kafka_sasl_mechanism,
                         self.kafka_sasl_username, self.kafka_sasl_password)

    @model_validator(mode="after")
    def _no_placeholder_secrets_in_production(self) -> ServiceSettings:
        if self.app_env == "production":
            for name, value in self:
                if isinstance(value, str) and value.startswith(PLACEHOLDER_PREFIX):
                    raise ValueError(f"{name} still has its development placeholder")
            for key_id, secret in self.dead_letter_keys.items():
                if secret.startswith(PLACEHOLDER_PREFIX):
                    raise ValueError(f"dead_letter_keys[{key_id}] still has its development placeholder")
        if self.dead_letter_key_id not in self.dead_letter_keys:
            raise ValueError("dead_letter_key_id must name a key of dead_letter_keys")
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
