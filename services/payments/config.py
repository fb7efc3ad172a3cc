"""Settings of the payments service (environment variables prefixed PAYMENTS_)."""
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PAYMENTS_", extra="ignore", populate_by_name=True)

    database_url: str = "postgresql://postgres@127.0.0.1:55432/payments"
    http_port: int = 8083
