"""What a dead letter may carry, and where the original of one is kept for replay.

A record that a consumer gives up on may hold anything its producer put in it: a full SSN,
a bank account or card number. `dlq.<group>` topics are read by operators and tools that
have no business seeing those, so a dead letter carries the record's envelope metadata,
the error and a *redacted* payload:

- the value of every key that names a secret (ssn, account or routing number, card number,
  pan, cvv, password...) is masked, whatever it holds;
- any other string or integer is masked where it holds a 9-digit run (an SSN, with or
  without dashes) or any longer digit run (an account or card number); identifiers that
  look alike (a 10-digit billing account number, an enrollment id) are kept under their
  own keys, SSN-shaped and card-length runs masked even there;
- a value that is not JSON at all is masked as text: every secret-named key's value and
  every digit run of 9 or more.

The error text, the traceback and the record's header values are masked as text too (a
validation error repeats the input it refused).

What replay needs, the record exactly as it was consumed, is sealed (AES-GCM, with the id
of the key, the dead letter's id as associated data) into the service's own
`dead_letters` table, which only that service reads; the dead letter names it by
`dead_letter_id`. `python -m shared.replay <service> <dead_letter_id>` republishes it.
"""
from __future__ import annotations

import base64
import hashlib
import os
import re
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MASK = "[redacted]"

# Keys whose values are secrets whatever they look like (compared lower-cased).
_SECRET_KEY = re.compile(
    r"ssn|social_security|tax_?id|tin$|(?<!billing_)account_number|account_no|routing|"
    r"card_?number|^pan$|cvv|cvc|password|passcode|secret", re.IGNORECASE)
# Identifiers that may be long digit runs and are needed to triage a dead letter.
_ID_KEYS = frozenset({
    "key", "event_id", "correlation_id", "causation_id", "billing_account_number",
    "billing_account_numbers", "enrollment_id", "enrollment_ids", "confirmation_number",
    "member_id", "household_id", "payment_id", "mandate_id", "method_id", "notification_id",
    "source_event_id", "idempotency_key", "trace_number",
})
# Shapes are matched only standing alone (a UUID's digit groups are not a card number).
_SSN_SHAPED = re.compile(r"(?<![\w-])(?:\d{3}-\d{2}-\d{4}|\d{3} \d{2} \d{4})(?![\w-])|(?<!\d)\d{9}(?!\d)")
_CARD_SHAPED = re.compile(r"(?<![\w-])\d{4}(?:[ -]\d{4}){2,3}(?![\w-])|\d{13,}")
_LONG_RUN = re.compile(r"\d{9,}")
# "ssn": "123456789", 'account_number': 12345678, ssn=123-45-6789 inside free text.
_SECRET_PAIR = re.compile(
    r"""(?P<k>["']?[A-Za-z_]*(?:ssn|social_security|tax_?id|(?<!billing_)account_number|"""
    r"""account_no|routing|card_?number|pan|cvv|cvc|password|secret)[A-Za-z_]*["']?"""
    r"""\s*[:=]\s*)(?P<v>"[^"]*"|'[^']*'|[^\s,;}\])]+)""", re.IGNORECASE)


_UUID = re.compile(r"([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})")


def redact_text(text: str) -> str:
    """Free text (an unparsable value, an error, a header) with every secret masked; UUIDs
    (event ids) are kept."""
    text = _SECRET_PAIR.sub(lambda m: m.group("k") + _quoted_mask(m.group("v")), text)
    parts = _UUID.split(text)  # odd positions are the UUIDs
    return "".join(p if i % 2 else _redact_digits(p) for i, p in enumerate(parts))


def _redact_digits(text: str) -> str:
    text = _SSN_SHAPED.sub(MASK, text)
    text = _CARD_SHAPED.sub(MASK, text)
    return _LONG_RUN.sub(MASK, text)


def _quoted_mask(value: str) -> str:
    return f"{value[0]}{MASK}{value[0]}" if value[:1] in ("'", '"') else MASK


def _redact_identifier(text: str) -> str:
    parts = _UUID.split(text)  # a UUID's hex groups can hold 9 digits in a row: kept whole
    return "".join(p if i % 2 else _CARD_SHAPED.sub(MASK, _SSN_SHAPED.sub(MASK, p))
                   for i, p in enumerate(parts))


def redact(value: Any, key: str | None = None) -> Any:
    """A parsed JSON value with its secrets masked (see the module's rules)."""
    if key is not None and _SECRET_KEY.search(key):
        return value if value is None or isinstance(value, bool) else MASK
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, key) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    as_text = str(value)
    masked = _redact_identifier(as_text) if key in _ID_KEYS else redact_text(as_text)
    if masked == as_text:
        return value
    return masked


def redact_record_value(raw: bytes | None) -> bytes:
    """The value a dead letter carries: redacted JSON, or redacted text if not JSON."""
    if raw is None:
        return b""
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return redact_text(raw.decode("utf-8", errors="replace")).encode()
    return orjson.dumps(redact(parsed))


def redact_headers(headers: Any) -> list[tuple[str, bytes]]:
    return [(name, redact_text((v or b"").decode("utf-8", errors="replace")).encode())
            for name, v in headers or ()]


def redact_key(key: bytes | None) -> bytes | None:
    if key is None:
        return None
    return _redact_identifier(key.decode("utf-8", errors="replace")).encode()


class DeadLetterVault:
    """AES-GCM sealing of dead letters' originals, with key ids so keys can rotate (new
    rows use the current key, older ids stay readable while their key is listed)."""

    def __init__(self, keys: dict[str, str], current_key_id: str) -> None:
        assert current_key_id in keys, "the current dead-letter key id must name a key"
        self._aes = {kid: AESGCM(hashlib.sha256(secret.encode()).digest())
                     for kid, secret in keys.items()}
        self.current_key_id = current_key_id

    def seal(self, plaintext: bytes, dead_letter_id: uuid.UUID) -> bytes:
        nonce = os.urandom(12)
        aad = dead_letter_id.bytes + self.current_key_id.encode()
        return nonce + self._aes[self.current_key_id].encrypt(nonce, plaintext, aad)

    def open(self, blob: bytes, key_id: str, dead_letter_id: uuid.UUID) -> bytes:
        aad = dead_letter_id.bytes + key_id.encode()
        return self._aes[key_id].decrypt(blob[:12], blob[12:], aad)

    def reseal(self, blob: bytes, key_id: str, dead_letter_id: uuid.UUID) -> bytes:
        """The same original under the current key (key rotation)."""
        return self.seal(self.open(blob, key_id, dead_letter_id), dead_letter_id)


@dataclass(frozen=True)
class Original:
    """A dead-lettered record as it was consumed."""
    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def _unb64(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)


async def keep(pool: asyncpg.Pool, vault: DeadLetterVault, dead_letter_id: uuid.UUID,
               group_id: str, record: Any, event_id: uuid.UUID | None, *,
               error: str | None = None, attempts: int | None = None) -> None:
    """Seal the record whole into the service's `dead_letters` table, beside what an
    operator triages it by: its event type and its (redacted) error."""
    plain = orjson.dumps({
        "topic": record.topic, "key": _b64(record.key), "value": _b64(record.value),
        "headers": [[name, _b64(v)] for name, v in record.headers or ()]})
    event_type = next((v.decode(errors="replace") for name, v in record.headers or ()
                       if name == "event_type" and v), None)
    await pool.execute(
        """INSERT INTO dead_letters (dead_letter_id, consumer_group, topic, partition,
               "offset", event_id, key_id, sealed, event_type, error, attempts)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)""",
        dead_letter_id, group_id, record.topic, record.partition, record.offset, event_id,
        vault.current_key_id, vault.seal(plain, dead_letter_id), event_type,
        None if error is None else redact_text(error)[:2000], attempts)


async def original(pool: asyncpg.Pool, vault: DeadLetterVault,
                   dead_letter_id: uuid.UUID) -> Original | None:
    """The record a dead letter stands for, unsealed (None if this database has no such)."""
    row = await pool.fetchrow("SELECT key_id, sealed FROM dead_letters WHERE dead_letter_id = $1",
                              dead_letter_id)
    if row is None:
        return None
    doc = orjson.loads(vault.open(row["sealed"], row["key_id"], dead_letter_id))
    return Original(doc["topic"], _unb64(doc["key"]), _unb64(doc["value"]),
                    [(name, _unb64(v) or b"") for name, v in doc["headers"]])


def event_id_of(raw: bytes | None) -> uuid.UUID | None:
    """The envelope's event id, if the value is JSON with one."""
    try:
        doc = orjson.loads(raw or b"")
        return uuid.UUID(str(doc["event_id"])) if isinstance(doc, dict) else None
    except (orjson.JSONDecodeError, KeyError, ValueError):
        return None
