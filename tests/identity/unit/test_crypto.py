"""SSN sealing (keyed hash, AES-GCM with key ids and rotation), tokens, argon2id."""
from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidTag

from services.identity.adapters.crypto import Passwords, SsnVault, new_reset_token, token_hash
from services.identity.config import Settings
from shared.service_auth import generate_keys


def test_the_hash_is_keyed_and_stable():
    a = SsnVault("key-a", {"k1": "x"}, "k1")
    b = SsnVault("key-b", {"k1": "x"}, "k1")
    assert a.digest("123456789") == a.digest("123456789")
    assert a.digest("123456789") != b.digest("123456789")
    assert a.digest("123456789") != a.digest("123456788")


def test_sealed_ssn_shows_only_its_last_four_and_survives_key_rotation():
    old = SsnVault("h", {"k1": "first secret"}, "k1")
    sealed = old.seal("123456789")
    assert b"123456789" not in sealed.ciphertext and b"6789" not in sealed.ciphertext[12:]
    assert sealed.key_id == "k1"
    rotated = SsnVault("h", {"k1": "first secret", "k2": "second secret"}, "k2")
    assert rotated.last_four(sealed.ciphertext, "k1") == "6789"
    assert rotated.seal("123456789").key_id == "k2"
    with pytest.raises(InvalidTag):   # a ciphertext relabelled with another key id is refused
        rotated.last_four(sealed.ciphertext, "k2")


def test_two_seals_of_one_ssn_differ_but_hash_alike():
    vault = SsnVault("h", {"k1": "s"}, "k1")
    one, two = vault.seal("123456789"), vault.seal("123456789")
    assert one.ciphertext != two.ciphertext and one.digest == two.digest


def test_reset_tokens_are_random_and_only_their_hash_is_kept():
    token, digest = new_reset_token()
    assert len(token) >= 40 and digest == token_hash(token) and token.encode() not in digest
    assert new_reset_token()[0] != token


async def test_argon2id_hashes_and_verifies():
    pw = Passwords(time_cost=1, memory_kib=1024, parallelism=1)
    stored = await pw.hash("correct horse battery staple")
    assert stored.startswith("$argon2id$")
    assert await pw.verify(stored, "correct horse battery staple")
    assert not await pw.verify(stored, "correct horse battery stapler")
    assert not await pw.verify(None, "anything at all here")
    assert not await pw.verify("not a hash", "anything at all here")


def test_production_refuses_placeholder_keys():
    with pytest.raises(ValueError, match="placeholder"):
        Settings(app_env="production", ssn_hmac_key="real-key-123",
                 ssn_encryption_keys={"k1": "dev-only-x"}, database_url="postgresql://x/y")
    with pytest.raises(ValueError, match="placeholder"):
        Settings(app_env="production", ssn_encryption_keys={"k1": "real"},
                 database_url="postgresql://x/y")
    with pytest.raises(ValueError, match="dead_letter_keys.*placeholder"):
        Settings(app_env="production", ssn_hmac_key="real-hmac", ssn_encryption_keys={"k1": "real"},
                 service_keys=generate_keys())
    ok = Settings(app_env="production", ssn_hmac_key="real-hmac", ssn_encryption_keys={"k1": "real"},
                  dead_letter_keys={"k1": "real dead-letter key"}, service_keys=generate_keys())
    assert ok.ssn_encryption_key_id == "k1"
    with pytest.raises(ValueError, match="must name a key"):
        Settings(ssn_encryption_key_id="k9")
