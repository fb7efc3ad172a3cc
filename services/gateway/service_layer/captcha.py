"""CAPTCHA challenges for guest payments: digits shown as a PNG and spoken as a WAV (the
`captcha` library's audio speaks digits), stored once, spent by the first attempt."""
from __future__ import annotations

import asyncio
import secrets
from datetime import datetime

from captcha.audio import AudioCaptcha
from captcha.image import ImageCaptcha

from services.gateway.adapters.store import Store
from services.gateway.service_layer import errors

_image = ImageCaptcha(width=220, height=80)
_audio = AudioCaptcha()


class Captchas:
    def __init__(self, store: Store, ttl_s: int, enabled: bool) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self.enabled = enabled

    async def new(self) -> tuple[str, datetime]:
        captcha_id = secrets.token_urlsafe(16)
        answer = "".join(secrets.choice("23456789") for _ in range(5))
        expires = await self.store.save_captcha(captcha_id, answer, self.ttl_s)
        return captcha_id, expires

    async def image(self, captcha_id: str) -> bytes:
        answer = await self._answer(captcha_id)
        return await asyncio.to_thread(lambda: _image.generate(answer).getvalue())

    async def audio(self, captcha_id: str) -> bytes:
        answer = await self._answer(captcha_id)
        return bytes(await asyncio.to_thread(_audio.generate, " ".join(answer).replace(" ", "")))

    async def _answer(self, captcha_id: str) -> str:
        answer = await self.store.captcha_answer(captcha_id)
        if answer is None:
            raise errors.CaptchaExpired()
        return answer

    async def require(self, captcha: object | None) -> None:
        """Raises CaptchaRequired or CaptchaInvalid unless the challenge is answered right (when CAPTCHAs are on)."""
        if not self.enabled:
            return
        if captcha is None:
            raise errors.CaptchaRequired(fields={"captcha": "err.captcha_required"})
        ok = await self.store.use_captcha(captcha.id, captcha.answer)  # type: ignore[attr-defined]
        if not ok:
            raise errors.CaptchaInvalid(fields={"captcha": "err.captcha_invalid"})
