"""Settings of the sandbox process (environment variables prefixed SANDBOX_)."""
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent


class SandboxSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SANDBOX_", extra="ignore")

    http_host: str = "127.0.0.1"
    http_port: int = 8085
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    data_dir: Path = ROOT / ".state" / "run" / "sandbox"
    # The folders the bank exchanges files through (payments writes outbound NACHA files,
    # the bank writes return files).
    ach_outbound_dir: Path = ROOT / ".state" / "run" / "ach" / "outbound"
    ach_returns_dir: Path = ROOT / ".state" / "run" / "ach" / "returns"
    bank_poll_s: float = 1.0
