"""Settings of the billing service (environment variables prefixed BILLING_)."""
from pydantic_settings import SettingsConfigDict

from shared.contracts.topics import Groups
from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BILLING_", extra="ignore", populate_by_name=True)

    database_url: str = "postgresql://postgres@127.0.0.1:55432/billing"
    http_port: int = 8082
    # The daily jobs run inside the service once per business date (and on demand from
    # the command line); tests that walk through dates turn this off.
    run_scheduler: bool = True
    # Consumer groups (replicas share them); tests running beside a whole stack use their own.
    enrollments_group: str = Groups.BILLING_ENROLLMENTS
    payments_group: str = Groups.BILLING_PAYMENTS
    scheduler_poll_s: float = 300.0
