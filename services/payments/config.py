"""Settings of the payments service (environment variables prefixed PAYMENTS_)."""
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from services.payments.domain import same_day
from shared.contracts.topics import Groups
from shared.settings import ServiceSettings

ROOT = Path(__file__).resolve().parent.parent.parent


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PAYMENTS_", extra="ignore", populate_by_name=True)

    database_url: str = "postgresql://postgres@127.0.0.1:55432/payments"
    http_port: int = 8083
    # The billing-projection consumer group (tests use their own, started at the topic's end).
    consumer_group: str = Groups.PAYMENTS_BILLING

    # The program: the Health Connector takes bank accounts only; MassHealth takes cards too.
    program: str = "health_connector"
    cards_enabled: bool = False
    # A typed amount may exceed the total owed by at most this much (0: never more than owed).
    overpay_max_cents: int = Field(default=0, ge=0)
    payment_max_cents: int = Field(default=5_000_000, ge=100)  # $50,000 per payment

    # Account numbers: AES-GCM; the current key encrypts, older ones (id:secret,...) decrypt.
    account_key_id: str = "k1"
    account_key: str = "dev-only-payments-account-key"
    account_old_keys: str = ""
    # Keyed hashes (idempotency request bodies, method fingerprints).
    hash_key: str = "dev-only-payments-hash-key"

    # Card processor (the card sandbox's test mode by default).
    card_processor_url: str = "http://127.0.0.1:8085/card"
    card_processor_timeout_s: float = 10.0

    # ACH origination: our bank (ODFI) and the company identity in the NACHA file.
    ach_outbound_dir: Path = ROOT / ".state" / "run" / "ach" / "outbound"
    ach_returns_dir: Path = ROOT / ".state" / "run" / "ach" / "returns"
    # Every file sent and every return file read, kept AES-GCM encrypted (default: an
    # `archive` folder beside the outbound one).
    ach_archive_dir: Path | None = None
    ach_archive_key: str = "dev-only-payments-ach-archive-key"
    ach_odfi_routing: str = "011000015"
    ach_destination_name: str = "SANDBOX BANK"
    ach_company_name: str = "HEALTH CONNECTOR"
    ach_company_id: str = "1046001234"
    ach_cutoff_hour: int = Field(default=17, ge=0, le=23)  # New York time
    # Same Day ACH for a binder standard ACH would settle after its due date: the times (ET,
    # ascending) our same-day files go to the bank, each before a Fed window's deadline
    # (10:30, 14:45, 16:45 ET) and the bank's own; "" sends none (domain/same_day.py).
    ach_same_day_windows: str = "10:00,14:15,16:15"
    ach_batch_entries_max: int = Field(default=100_000, ge=1, le=999_999)
    ach_retries_max: int = Field(default=2, ge=0, le=2)

    # A refund of credit above this amount waits for an operator's approval (cli refunds).
    refund_approval_cents: int = Field(default=50_000, ge=0)
    # Account validation of a bank account new to the system (Nacha's WEB debit rule):
    # "prenote" (a zero-dollar entry; debits follow 3 banking days after it settles) or
    # "micro_entries" (two credits under $1 the member confirms); "none" only where the
    # bank (ODFI) validates accounts for us (docs/operations.md).
    account_validation: Literal["prenote", "micro_entries", "none"] = "prenote"

    autopay_day: int = Field(default=22, ge=1, le=28)
    autopay_batch: int = Field(default=5000, ge=1, le=50_000)
    # The daily jobs (autopay, cutoff, settlement, returns) run inside the service too.
    run_scheduler: bool = True
    scheduler_poll_s: float = 60.0

    @field_validator("ach_same_day_windows")
    @classmethod
    def _windows(cls, v: str) -> str:
        same_day.parse_windows(v)
        return v

    @property
    def same_day_windows(self) -> tuple[same_day.Window, ...]:
        return same_day.parse_windows(self.ach_same_day_windows)

    @property
    def ach_archive(self) -> Path:
        return Path(self.ach_archive_dir or Path(self.ach_outbound_dir).parent / "archive")
