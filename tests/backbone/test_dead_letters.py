"""Dead letters carry no full SSN, bank account or card number: the redaction rules, and on
the running system (every service, real Kafka and PostgreSQL) a malformed enrollment and a
malformed payment event read back from every `dlq.*` topic, while the original stays
sealed in the owning service's database and replays from there."""
from __future__ import annotations

import asyncio
import random
import uuid
from datetime import datetime, timezone

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from services.identity.config import Settings as IdentitySettings
from shared.contracts.envelope import Envelope
from shared.dead_letters import DeadLetterVault, event_id_of, original, redact_record_value, redact_text
from shared.replay import replay
from tests.helpers import wait_for


def test_secret_keys_and_digit_runs_are_masked_and_identifiers_kept():
    event_id = str(uuid.uuid4())
    value = orjson.dumps({
        "event_id": event_id, "event_type": "enrollment.created", "key": "HH-1",
        "data": {"subscriber": {"ssn": "123-45-6789", "first_name": "Ana"},
                 "billing_account_number": "1000000018", "enrollment_id": "3312345678",
                 "method": {"account_number": "00123", "routing_number": "011000015",
                            "last4": "0123"},
                 "note": "ssn 123 45 6789, card 4111-1111-1111-1111, acct 12345678901",
                 "number": 987654321, "amount_cents": 25_000}})
    doc = orjson.loads(redact_record_value(value))
    assert doc["event_id"] == event_id and doc["key"] == "HH-1"
    assert doc["data"]["subscriber"] == {"ssn": "[redacted]", "first_name": "Ana"}
    assert doc["data"]["billing_account_number"] == "1000000018"
    assert doc["data"]["enrollment_id"] == "3312345678"
    assert doc["data"]["method"] == {"account_number": "[redacted]", "routing_number": "[redacted]",
                                     "last4": "0123"}
    assert doc["data"]["note"] == "ssn [redacted], card [redacted], acct [redacted]"
    assert doc["data"]["number"] == "[redacted]" and doc["data"]["amount_cents"] == 25_000
    raw = b'{"ssn": "12345", account_number=87654321, tail 123456789 ' + event_id.encode()
    assert redact_record_value(raw).decode() == (
        '{"ssn": "[redacted]", account_number=[redacted], tail [redacted] ' + event_id)
    # A UUID's last group can hold nine digits in a row; it stays an event id.
    digity = "0193a2b4-5c6d-7e8f-9a0b-a123456789ff"
    assert orjson.loads(redact_record_value(orjson.dumps({"event_id": digity})))["event_id"] == digity
    error = "input_value={'ssn': '123456789', 'x': '123-45-6789'}"
    assert redact_text(error) == "input_value={'ssn': '[redacted]', 'x': '[redacted]'}"


def _ssn() -> str:
    return f"{random.randint(100, 665)}{random.randint(10, 99)}{random.randint(1000, 9999)}"


async def _dead_letters(bootstrap: str) -> list:
    """Every record of every dlq.* topic, from the beginning."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        topics = [t for t in await consumer.topics() if t.startswith("dlq.")]
        await consumer._client.force_metadata_update()  # noqa: SLF001 - a cold client's metadata
        parts = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
        if not parts:
            return []
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        records = []
        async def behind() -> bool:
            return any([await consumer.position(tp) < ends[tp] for tp in parts])
        while await behind():
            batch = await consumer.getmany(timeout_ms=500)
            for rs in batch.values():
                records += rs
        return records
    finally:
        await consumer.stop()


def _everything(record) -> bytes:
    return b" ".join([record.key or b"", record.value or b""]
                     + [v or b"" for _, v in record.headers or ()])


async def _publish(bootstrap: str, topic: str, key: str, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key.encode())
    finally:
        await producer.stop()


async def test_no_dead_letter_carries_an_ssn_or_account_number_and_the_original_replays(stack):
    bootstrap = stack.infra.kafka_bootstrap
    ssn, account = _ssn(), f"{random.randint(10**11, 10**12 - 1)}"
    household = f"HH-{uuid.uuid4().hex[:10]}"
    # An enrollment the exchange got wrong (no dates, the contact a sentence); each of its
    # three consumers fails on it.
    enrollment = Envelope(event_type="enrollment.created", producer="enrollment", key=household, data={
        "enrollment_id": f"33{random.randint(10**8, 10**9 - 1)}", "household_id": household,
        "plan_type": "health", "coverage_year": 2026, "coverage_start": f"week of {ssn}",
        "plan_name": "Test Silver Plan", "carrier": "Test Carrier", "premium_cents": 25_000,
        "aptc": False, "shopped_at": datetime.now(timezone.utc).isoformat(),
        "subscriber": {"first_name": "Ana", "last_name": "Poison", "date_of_birth": f"born {ssn}",
                       "ssn": f"{ssn[:3]}-{ssn[3:5]}-{ssn[5:]}"},
        "contact": f"call about SSN {ssn}"})
    # A payment event that is not even an envelope (its time is no time), with a full account
    # number in its method: its consumers dead-letter it as soon as they read it.
    payment_id = uuid.uuid4()
    payment_value = orjson.dumps({
        "event_id": str(payment_id), "event_type": "payment.submitted", "event_version": 1,
        "occurred_at": f"when {account} paid", "producer": "payments", "key": "1000000018",
        "data": {"payment_id": str(uuid.uuid4()), "billing_account_number": "1000000018",
                 "method": {"type": "checking", "account_number": account,
                            "routing_number": "011000015"},
                 "memo": f"from account {account}"}})
    await _publish(bootstrap, "enrollment.v1", household, enrollment.to_bytes())
    await _publish(bootstrap, "payments.v1", "1000000018", payment_value)

    wanted = {("dlq.identity.intake", enrollment.event_id), ("dlq.billing.enrollments", enrollment.event_id),
              ("dlq.notify.events", enrollment.event_id), ("dlq.billing.payments", payment_id),
              ("dlq.notify.events", payment_id)}

    async def all_dead_lettered():
        seen = set()
        for r in await _dead_letters(bootstrap):
            assert orjson.loads(dict(r.headers)["dlq_error"])["redacted"] is True
            seen.add((r.topic, event_id_of(r.value)))
        return wanted <= seen
    await wait_for(all_dead_lettered, timeout_s=90, what="both events in every consumer's DLQ")

    dead = await _dead_letters(bootstrap)
    for r in dead:
        blob = _everything(r)
        assert ssn.encode() not in blob and f"{ssn[:3]}-{ssn[3:5]}-{ssn[5:]}".encode() not in blob
        assert account.encode() not in blob
    [identity_letter] = [r for r in dead if r.topic == "dlq.identity.intake"
                         and event_id_of(r.value) == enrollment.event_id]
    detail = orjson.loads(dict(identity_letter.headers)["dlq_error"])
    assert detail["original_kept"] is True and detail["topic"] == "enrollment.v1"
    assert orjson.loads(identity_letter.value)["data"]["subscriber"]["ssn"] == "[redacted]"

    # The original is in identity's own database, sealed; identity's keys open it.
    dsn = stack.stack.config.dsn_of["identity"]
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow("SELECT * FROM dead_letters WHERE dead_letter_id = $1",
                                  uuid.UUID(detail["dead_letter_id"]))
    finally:
        await conn.close()
    assert row["event_id"] == enrollment.event_id and row["consumer_group"] == "identity.intake"
    assert ssn.encode() not in row["sealed"]
    settings = IdentitySettings(database_url=dsn, kafka_bootstrap=bootstrap)
    vault = DeadLetterVault(settings.dead_letter_keys, settings.dead_letter_key_id)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
    try:
        kept = await original(pool, vault, row["dead_letter_id"])
        assert kept is not None and kept.value == enrollment.to_bytes() and kept.key == household.encode()
        other_keys = DeadLetterVault({"k1": "another service's key"}, "k1")
        try:
            await original(pool, other_keys, row["dead_letter_id"])
            raise AssertionError("another key opened the sealed original")
        except Exception as exc:  # noqa: BLE001 - AES-GCM refuses the wrong key
            assert type(exc).__name__ == "InvalidTag"
    finally:
        await pool.close()

    # Replay publishes the original, as consumed, back to its topic.
    tail = AIOKafkaConsumer("enrollment.v1", bootstrap_servers=bootstrap, group_id=None,
                            auto_offset_reset="latest")
    await tail.start()
    try:
        await tail.seek_to_end()
        for tp in tail.assignment():
            await tail.position(tp)
        assert await replay(settings, row["dead_letter_id"]) == "enrollment.v1"
        found = None
        async with asyncio.timeout(30):
            while found is None:
                for rs in (await tail.getmany(timeout_ms=500)).values():
                    found = found or next((r for r in rs if r.value == enrollment.to_bytes()), None)
    finally:
        await tail.stop()
    assert found.key == household.encode()
