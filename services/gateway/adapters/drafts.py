"""Quick-pay payments between Step 4 and their submission, kept server-side.

The review page carries no bank or card number: the fields the guest typed at Step 4 are
kept here, AES-GCM encrypted under a key derived from the gateway's secret (the draft id is
the associated data, so a blob cannot be moved to another draft), and the guest's signed
quick-pay cookie names the draft. A draft lives as long as a lookup token and is deleted
once its payment is submitted."""
from __future__ import annotations

import hashlib
import os
import secrets
from datetime import datetime, timedelta, timezone
from typing import Any

import asyncpg
import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class PaymentDrafts:
    def __init__(self, pool: asyncpg.Pool, secret: str, ttl_s: int) -> None:
        self.pool = pool
        self.ttl_s = ttl_s
        self._aes = AESGCM(hashlib.sha256(b"payment-draft:" + secret.encode()).digest())

    async def save(self, fields: dict[str, Any], draft_id: str | None = None) -> str:
        """Keeps (or replaces) a draft; answers its id."""
        draft_id = draft_id or secrets.token_urlsafe(24)
        nonce = os.urandom(12)
        blob = nonce + self._aes.encrypt(nonce, orjson.dumps(fields), draft_id.encode())
        expires = datetime.now(timezone.utc) + timedelta(seconds=self.ttl_s)
        await self.pool.execute(
            """INSERT INTO payment_drafts (draft_id, ciphertext, expires_at) VALUES ($1, $2, $3)
               ON CONFLICT (draft_id) DO UPDATE SET ciphertext = EXCLUDED.ciphertext,
                 expires_at = EXCLUDED.expires_at""", draft_id, blob, expires)
        return draft_id

    async def load(self, draft_id: str | None) -> dict[str, Any] | None:
        if not draft_id:
            return None
        blob = await self.pool.fetchval(
            "SELECT ciphertext FROM payment_drafts WHERE draft_id = $1 AND expires_at > now()", draft_id)
        if blob is None:
            return None
        try:
            return orjson.loads(self._aes.decrypt(blob[:12], blob[12:], draft_id.encode()))
        except InvalidTag:
            return None

    async def delete(self, draft_id: str) -> None:
        await self.pool.execute("DELETE FROM payment_drafts WHERE draft_id = $1", draft_id)

    async def purge_expired(self) -> None:
        await self.pool.execute("DELETE FROM payment_drafts WHERE expires_at < now()")
