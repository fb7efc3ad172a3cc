"""Account numbers at rest: AES-256-GCM with a key id per row, so keys can rotate (new rows
use the current key; older ids stay readable until re-encrypted). Keyed hashes (HMAC-SHA256)
for fingerprints and idempotency request hashes, so no plain hash of a low-entropy number
is ever stored."""
from __future__ import annotations

import hashlib
import hmac
import os
import uuid

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def _key(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


class AccountCipher:
    def __init__(self, key_id: str, secret: str, old_keys: str = "") -> None:
        assert key_id and secret
        self.key_id = key_id
        self._keys = {key_id: AESGCM(_key(secret))}
        for item in filter(None, (s.strip() for s in old_keys.split(","))):
            kid, _, old = item.partition(":")
            assert kid and old, "PAYMENTS_ACCOUNT_OLD_KEYS is id:secret,id:secret"
            self._keys.setdefault(kid, AESGCM(_key(old)))

    def encrypt(self, plaintext: str, row_id: uuid.UUID) -> tuple[bytes, str]:
        nonce = os.urandom(12)
        return nonce + self._keys[self.key_id].encrypt(nonce, plaintext.encode(), row_id.bytes), self.key_id

    def decrypt(self, blob: bytes, key_id: str, row_id: uuid.UUID) -> str:
        return self._keys[key_id].decrypt(blob[:12], blob[12:], row_id.bytes).decode()

    def reseal(self, blob: bytes, key_id: str, row_id: uuid.UUID) -> bytes:
        """The same account number under the current key (key rotation)."""
        return self.encrypt(self.decrypt(blob, key_id, row_id), row_id)[0]


class Hasher:
    def __init__(self, secret: str) -> None:
        self._key = _key("hash:" + secret)

    def __call__(self, *parts: str | bytes) -> str:
        mac = hmac.new(self._key, digestmod=hashlib.sha256)
        for p in parts:
            mac.update(p.encode() if isinstance(p, str) else p)
            mac.update(b"\x1f")
        return mac.hexdigest()
