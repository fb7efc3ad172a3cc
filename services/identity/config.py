"""Settings of the identity service (environment variables prefixed IDENTITY_)."""
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="IDENTITY_", extra="ignore", populate_by_name=True)

    database_url: str = "postgresql://postgres@127.0.0.1:55432/identity"
    http_port: int = 8081
