"""SSN protection (keyed hash + AES-GCM with key ids), password hashing (argon2id) and
reset-token hashing. The only module that touches key material."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_NONCE_BYTES = 12


@dataclass(frozen=True)
class SealedSsn:
    digest: bytes      # HMAC-SHA256: what lookups search by
    ciphertext: bytes  # nonce || AES-GCM(ssn)
    key_id: str


class SsnVault:
    """Hashes SSNs for lookup and encrypts them for the last-four display."""

    def __init__(self, hmac_key: str, encryption_keys: dict[str, str], current_key_id: str) -> None:
        assert current_key_id in encryption_keys
        self._hmac_key = hmac_key.encode()
        self._aes = {kid: AESGCM(hashlib.sha256(secret.encode()).digest())
                     for kid, secret in encryption_keys.items()}
        self.current_key_id = current_key_id

    def digest(self, ssn: str) -> bytes:
        return hmac.digest(self._hmac_key, b"ssn:" + ssn.encode(), "sha256")  # one-shot, in C

    def subject(self, kind: str, value: str) -> bytes:
        """A keyed hash naming a throttling subject (an ID or an address) without keeping it."""
        return hmac.digest(self._hmac_key, f"{kind}:{value}".encode(), "sha256")[:16]

    def seal(self, ssn: str) -> SealedSsn:
        assert len(ssn) == 9 and ssn.isascii() and ssn.isdigit(), "an SSN is 9 ASCII digits"
        nonce = os.urandom(_NONCE_BYTES)
        aad = self.current_key_id.encode()
        ct = self._aes[self.current_key_id].encrypt(nonce, ssn.encode(), aad)
        return SealedSsn(self.digest(ssn), nonce + ct, self.current_key_id)

    def last_four(self, ciphertext: bytes, key_id: str) -> str:
        return self._open(ciphertext, key_id)[-4:]

    def reseal(self, ciphertext: bytes, key_id: str, _row_id: object = None) -> bytes:
        """The same SSN under the current key (key rotation); its hash does not change."""
        return self.seal(self._open(ciphertext, key_id)).ciphertext

    def _open(self, ciphertext: bytes, key_id: str) -> str:
        nonce, ct = ciphertext[:_NONCE_BYTES], ciphertext[_NONCE_BYTES:]
        return self._aes[key_id].decrypt(nonce, ct, key_id.encode()).decode()


class Passwords:
    """argon2id hashing, run off the event loop (each hash costs tens of milliseconds)."""

    def __init__(self, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib,
                                      parallelism=parallelism, type=Type.ID)
        # Verified against when the username is unknown, so both cases take as long.
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        def check() -> bool:
            try:
                return self._hasher.verify(stored_hash or self._dummy, password) and stored_hash is not None
            except (VerificationError, InvalidHashError):
                return False
        return await asyncio.to_thread(check)


def new_reset_token() -> tuple[str, bytes]:
    """A single-use token for the reset link and the hash that is all we keep of it."""
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
