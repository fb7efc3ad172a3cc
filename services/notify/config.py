"""Settings of the notify service (environment variables prefixed NOTIFY_)."""
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.contracts.topics import Groups
from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFY_", extra="ignore", populate_by_name=True)

    database_url: str = "postgresql://postgres@127.0.0.1:55432/notify"
    http_port: int = 8084
    # The consumer group (tests and blue/green deployments use a group of their own).
    consumer_group: str = Groups.NOTIFY_EVENTS

    # Email over SMTP (the mail catcher of `make run` by default).
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=1025, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_start_tls: bool = False
    smtp_timeout_s: float = Field(default=10.0, gt=0, le=120)
    smtp_connections: int = Field(default=8, ge=1, le=64)
    mail_from: str = "Health Connector <no-reply@health-connector.example>"
    # The exchange's payment operations mailbox: notices meant for operators, not members
    # (an ACH return rate near or over its Nacha limit). Empty: none are sent.
    operator_email: str = "payments-operations@health-connector.example"

    # SMS through an adapter: "sandbox" speaks the sandbox provider's HTTP API. A real
    # provider is another adapter in adapters/sms.py selected here.
    sms_provider: Literal["sandbox"] = "sandbox"
    sms_provider_url: str = "http://127.0.0.1:8085/sms"
    sms_api_key: str = "dev-only-sms-key"
    sms_timeout_s: float = Field(default=10.0, gt=0, le=120)
    sms_concurrency: int = Field(default=8, ge=1, le=64)

    # The sender job: batch size, retries with exponential backoff, lease of a claim.
    sender_batch: int = Field(default=500, ge=1, le=5000)
    sender_workers: int = Field(default=2, ge=1, le=16)
    sender_idle_poll_s: float = Field(default=0.1, gt=0, le=10)
    send_attempts_max: int = Field(default=6, ge=1, le=20)
    retry_base_s: float = Field(default=30.0, gt=0, le=3600)
    retry_max_s: float = Field(default=3600.0, gt=0, le=86400)
    claim_lease_s: float = Field(default=300.0, gt=0, le=3600)

    # Reminders: days before the due date, and the local hour the daily run starts.
    reminder_days_before: int = Field(default=5, ge=1, le=20)
    reminder_hour: int = Field(default=9, ge=0, le=23)
    run_scheduler: bool = True
    run_sender: bool = True

    # Every link in a message starts with the portal's public address (`public_url`, env
    # PUBLIC_URL, shared by every service).
    support_phone: str = "1-877-623-6765"
