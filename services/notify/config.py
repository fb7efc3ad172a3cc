"""Settings of the notify service (environment variables prefixed NOTIFY_)."""
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFY_", extra="ignore", populate_by_name=True)

    database_url: str = "postgresql://postgres@127.0.0.1:55432/notify"
    http_port: int = 8084
