"""SMS through a provider adapter. `SandboxSmsProvider` speaks the sandbox provider's API
(`POST {base}/v1/messages {to, body}` with an `Idempotency-Key` header -> `{sid, status}`),
which has the shape of the common commercial APIs: a second request with the same key is
answered with the first message's sid and sends nothing. The key is the notification id,
so a text sent again after a crash is not delivered twice; a real provider is another class with the same `send`, chosen by
the `NOTIFY_SMS_PROVIDER` setting in `make_sms_provider`."""
from __future__ import annotations

import asyncio
from typing import Protocol

import aiohttp

from services.notify.adapters.transport import PermanentDeliveryError, TransientDeliveryError


class SmsProvider(Protocol):
    async def send(self, to: str, body: str, *, idempotency_key: str) -> str:
        """Send one text once per `idempotency_key`; returns the provider's message id."""

    async def close(self) -> None: ...


class SandboxSmsProvider:
    def __init__(self, base_url: str, api_key: str, *, timeout_s: float = 10.0,
                 concurrency: int = 8) -> None:
        self.url = base_url.rstrip("/") + "/v1/messages"
        self.api_key = api_key
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.concurrency = concurrency
        self._limit = asyncio.Semaphore(concurrency)
        self._session: aiohttp.ClientSession | None = None

    async def send(self, to: str, body: str, *, idempotency_key: str) -> str:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        async with self._limit:
            try:
                async with self._session.post(
                        self.url, json={"to": to, "body": body},
                        headers={"Authorization": f"Bearer {self.api_key}",
                                 "Idempotency-Key": idempotency_key}) as resp:
                    payload = await resp.json(content_type=None)
                    status = resp.status
            except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
                raise TransientDeliveryError(f"SMS provider unavailable: {type(exc).__name__}") from None
        if status in (200, 201, 202):
            return str(payload.get("sid"))
        message = str((payload or {}).get("error", {}).get("message", ""))[:200] \
            if isinstance(payload, dict) else ""
        if status == 429 or status >= 500:
            raise TransientDeliveryError(f"SMS provider {status}: {message}")
        raise PermanentDeliveryError(f"SMS provider {status}: {message}")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def make_sms_provider(settings) -> SmsProvider:
    if settings.sms_provider == "sandbox":
        return SandboxSmsProvider(settings.sms_provider_url, settings.sms_api_key,
                                  timeout_s=settings.sms_timeout_s,
                                  concurrency=settings.sms_concurrency)
    raise ValueError(f"unknown SMS provider {settings.sms_provider!r}")
