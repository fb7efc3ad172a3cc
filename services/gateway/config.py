"""Settings of the gateway (environment variables prefixed GATEWAY_)."""
import ipaddress
from functools import cached_property

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", populate_by_name=True)

    database_url: str = "postgresql://postgres@127.0.0.1:55432/gateway"
    http_port: int = 8080
    # Processes serving the same port (SO_REUSEPORT); everything they share is in PostgreSQL.
    workers: int = Field(default=1, ge=1, le=64)

    # The services behind the gateway (internal HTTP APIs of docs/internal-api.md).
    identity_url: str = "http://127.0.0.1:8081"
    billing_url: str = "http://127.0.0.1:8082"
    payments_url: str = "http://127.0.0.1:8083"
    notify_url: str = "http://127.0.0.1:8084"
    # One call to a service gives up after this long; the page answers without it.
    upstream_timeout_s: float = Field(default=3.0, gt=0, le=60)
    # Payment submissions wait longer (a card authorisation happens inside).
    payment_timeout_s: float = Field(default=15.0, gt=0, le=120)
    # Calls that hash or check a password (registering, logging in, a new password) wait
    # longer too: argon2id takes a good part of a CPU for a while on purpose.
    password_timeout_s: float = Field(default=15.0, gt=0, le=120)
    upstream_connections: int = Field(default=100, ge=1, le=1000)
    # Each service's /healthz is probed this often (the account cache needs to know).
    health_probe_interval_s: float = Field(default=1.0, gt=0, le=60)

    # Account summaries kept per billing account (docs/operations.md "Account cache"):
    # dropped on any billing.v1 / payments.v1 event about the account, read fresh for
    # `settle_s` after a change, never older than `ttl_s`. 0 turns the cache off.
    account_cache_ttl_s: float = Field(default=30.0, ge=0, le=600)
    account_cache_settle_s: float = Field(default=5.0, ge=0, le=600)
    account_cache_entries: int = Field(default=50_000, ge=1)
    # No copies are served while the change feed has not read every event written this many
    # seconds ago (an unread change could be hidden behind a copy for that long).
    change_feed_max_lag_s: float = Field(default=5.0, gt=0, le=60)

    # Guest payments need a CAPTCHA; acceptance runs turn it off.
    captcha_enabled: bool = True
    captcha_ttl_s: int = Field(default=600, ge=30, le=3600)

    # Signs lookup tokens, CSRF tokens and session ids.
    secret_key: str = "dev-only-gateway-secret-change-me"
    lookup_token_ttl_s: int = Field(default=900, ge=60, le=3600)
    # A session ends after `session_ttl_s` idle, and `session_max_age_s` after it began
    # whatever the activity (the member logs in again).
    session_ttl_s: int = Field(default=1800, ge=60, le=86400)
    session_max_age_s: int = Field(default=12 * 3600, ge=300, le=7 * 86400)
    # Secure cookies (HTTPS only); off for http://127.0.0.1 in development.
    cookie_secure: bool = True
    hsts_max_age_s: int = 31_536_000

    # Proxies or load balancers in front of the gateway (comma-separated addresses or CIDR
    # networks). Only a request from one of them has its X-Forwarded-For believed: the
    # member's address is the nearest one in that header that is not itself a trusted proxy.
    # Empty: the connection's own address, whatever the header says.
    trusted_proxies: str = ""

    # Requests per client IP per minute (all requests) and for guest lookups / logins.
    rate_limit_per_minute: int = Field(default=60_000, ge=1)
    sensitive_rate_limit_per_minute: int = Field(default=60, ge=1)

    program_name: str = "Health Connector"
    help_phone: str = "1-877-623-6765"

    @field_validator("trusted_proxies")
    @classmethod
    def _networks_parse(cls, value: str) -> str:
        for part in filter(None, (p.strip() for p in value.split(","))):
            try:
                ipaddress.ip_network(part, strict=False)
            except ValueError:
                raise ValueError(f"not an address or network: {part!r}") from None
        return value

    @cached_property
    def proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(p.strip(), strict=False)
                     for p in self.trusted_proxies.split(",") if p.strip())
