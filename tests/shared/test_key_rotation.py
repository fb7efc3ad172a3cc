"""Rotating the keys of sealed columns online: `python -m services.<name>.cli rotate-keys`
re-seals bank account numbers (payments), SSNs (identity) and dead letters' originals
under the current key, while every row stays readable, and a second run finds nothing."""
from __future__ import annotations

import asyncio
import os
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path

import orjson

from services.identity.adapters.crypto import SsnVault
from services.identity.app import MIGRATIONS as IDENTITY_MIGRATIONS
from services.payments.adapters.crypto import AccountCipher
from services.payments.app import MIGRATIONS as PAYMENTS_MIGRATIONS
from shared.db import create_pool, migrate
from shared.dead_letters import DeadLetterVault, keep, original

ROOT = Path(__file__).resolve().parents[2]


async def run_cli(service: str, env: dict[str, str], *args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", f"services.{service}.cli", *args, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode == 0, (out + err).decode()
    return out.decode()


async def test_bank_account_numbers_are_resealed_online_and_stay_readable(fresh_db):
    pool = await create_pool(fresh_db)
    try:
        await migrate(pool, PAYMENTS_MIGRATIONS)
        old = AccountCipher("k1", "the old account key")
        numbers = {uuid.uuid4(): f"{n:012d}" for n in range(1, 301)}
        rows = []
        for method_id, number in numbers.items():
            blob, key_id = old.encrypt(number, method_id)
            rows.append((method_id, "7000000013", "checking", "Pat Tester", "011000015", blob, key_id,
                         number[-4:], f"fp-{method_id}"))
        await pool.executemany(
            """INSERT INTO methods (method_id, billing_account_number, type, holder_name, routing_number,
                   account_ciphertext, key_id, last4, fingerprint) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)""", rows)
        env = {"PAYMENTS_DATABASE_URL": fresh_db, "PAYMENTS_ACCOUNT_KEY_ID": "k2",
               "PAYMENTS_ACCOUNT_KEY": "the new account key",
               "PAYMENTS_ACCOUNT_OLD_KEYS": "k1:the old account key"}
        both = AccountCipher("k2", "the new account key", "k1:the old account key")
        rotation = asyncio.create_task(run_cli("payments", env, "rotate-keys", "--batch", "10"))
        passes = 0
        while not rotation.done() or passes == 0:  # the service keeps reading meanwhile
            for r in await pool.fetch("SELECT method_id, account_ciphertext, key_id FROM methods"):
                assert both.decrypt(r["account_ciphertext"], r["key_id"], r["method_id"]) == numbers[r["method_id"]]
            passes += 1
            await asyncio.sleep(0)
        out = await rotation
        assert "bank account numbers: 300/300 re-sealed under key k2" in out
        assert out.strip().endswith("bank account numbers: 300 re-sealed, 0 left under another key")
        new_only = AccountCipher("k2", "the new account key")  # the old key can now go
        for r in await pool.fetch("SELECT method_id, account_ciphertext, key_id FROM methods"):
            assert r["key_id"] == "k2"
            assert new_only.decrypt(r["account_ciphertext"], "k2", r["method_id"]) == numbers[r["method_id"]]
        again = await run_cli("payments", env, "rotate-keys")
        assert "bank account numbers: 0 re-sealed, 0 left under another key" in again
    finally:
        await pool.close()


async def test_ssns_and_dead_letters_are_resealed_and_lookups_still_match(fresh_db):
    pool = await create_pool(fresh_db)
    try:
        await migrate(pool, IDENTITY_MIGRATIONS)
        old = SsnVault("hmac key", {"k1": "the old ssn key"}, "k1")
        ssns = {uuid.uuid4(): f"1234{n:05d}" for n in range(40)}
        now = datetime.now(timezone.utc)
        await pool.executemany(
            """INSERT INTO members (member_id, household_id, first_name, last_name, first_name_norm,
                   last_name_norm, date_of_birth, ssn_hash, ssn_encrypted, ssn_key_id, last_event_at)
               VALUES ($1, $2, 'Ana', 'Rivera', 'ana', 'rivera', '1980-01-01', $3, $4, $5, $6)""",
            [(m, f"HH-{m}", (s := old.seal(ssn)).digest, s.ciphertext, s.key_id, now) for m, ssn in ssns.items()])
        letters = DeadLetterVault({"k1": "the old dead-letter key"}, "k1")
        dead_letter_id = uuid.uuid4()

        class Record:
            topic, partition, offset, key, value = "enrollment.v1", 0, 7, b"HH-1", b'{"ssn": "123456789"}'
            headers = [("event_type", b"enrollment.created")]
        await keep(pool, letters, dead_letter_id, "identity.intake", Record(), None)

        env = {"IDENTITY_DATABASE_URL": fresh_db, "IDENTITY_SSN_HMAC_KEY": "hmac key",
               "IDENTITY_SSN_ENCRYPTION_KEYS": orjson.dumps({"k1": "the old ssn key", "k2": "the new ssn key"}).decode(),
               "IDENTITY_SSN_ENCRYPTION_KEY_ID": "k2",
               "IDENTITY_DEAD_LETTER_KEYS": orjson.dumps({"k1": "the old dead-letter key",
                                                          "k2": "the new dead-letter key"}).decode(),
               "IDENTITY_DEAD_LETTER_KEY_ID": "k2"}
        out = await run_cli("identity", env, "rotate-keys", "--batch", "7")
        assert "SSNs: 40 re-sealed, 0 left under another key" in out
        assert "dead letters' originals: 1 re-sealed, 0 left under another key" in out
        new_only = SsnVault("hmac key", {"k2": "the new ssn key"}, "k2")
        for r in await pool.fetch("SELECT member_id, ssn_hash, ssn_encrypted, ssn_key_id FROM members"):
            assert r["ssn_key_id"] == "k2"
            assert new_only.last_four(r["ssn_encrypted"], "k2") == ssns[r["member_id"]][-4:]
            assert r["ssn_hash"] == new_only.digest(ssns[r["member_id"]])  # lookups still find them
        kept = await original(pool, DeadLetterVault({"k2": "the new dead-letter key"}, "k2"), dead_letter_id)
        assert kept is not None and kept.value == b'{"ssn": "123456789"}' and kept.topic == "enrollment.v1"
    finally:
        await pool.close()


async def test_a_callers_service_key_rotates_in_three_steps_without_refusing_a_token(tmp_path):
    from shared.service_auth import TokenSigner, TokenVerifier, generate_keys

    path = tmp_path / "service-keys.json"
    path.write_bytes(orjson.dumps(generate_keys()))
    path.chmod(0o600)
    before = orjson.loads(path.read_bytes())
    old_token = TokenSigner.from_keys(before, "gateway").token("billing")

    out = await run_cli("billing", {}, "service-keys", "add", "gateway", "--file", str(path))
    added = orjson.loads(path.read_bytes())
    (old_id,) = before["gateway"]
    assert list(added["gateway"])[0] == old_id and len(added["gateway"]) == 2
    new_id = list(added["gateway"])[1]
    assert out.startswith(f"added {new_id} for gateway")
    assert TokenVerifier("billing", added).verify(old_token)  # services accept both

    out = await run_cli("billing", {}, "service-keys", "promote", "gateway", "--file", str(path))
    assert out.startswith(f"gateway now signs with {new_id}")
    promoted = orjson.loads(path.read_bytes())
    new_token = TokenSigner.from_keys(promoted, "gateway").token("billing")
    assert TokenVerifier("billing", promoted).verify(old_token) and TokenVerifier("billing", promoted).verify(new_token)

    await run_cli("billing", {}, "service-keys", "retire", "gateway", "--file", str(path))
    retired = orjson.loads(path.read_bytes())
    assert list(retired["gateway"]) == [new_id]
    assert TokenVerifier("billing", retired).verify(new_token)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
