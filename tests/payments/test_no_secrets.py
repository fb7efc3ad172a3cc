"""No full account or card number in any table column (outside the AES-GCM ciphertext), log
line, event on Kafka or error answer, after every path that touches one."""
from __future__ import annotations

import logging
import uuid
from datetime import date

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.payments.service_layer import ach, autopay
from shared.contracts import topics
from shared.contracts.envelope import Envelope
from tests.payments.conftest import CONTACT, bank_method, card_method, new_account, new_ban, wait_for

CARD = "6011111111111117"


async def _end_offsets(bootstrap: str) -> dict[TopicPartition, int]:
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await c.start()
    try:
        parts = [TopicPartition(topics.PAYMENTS_V1, p) for p in c.partitions_for_topic(topics.PAYMENTS_V1)
                 or (await c._client.force_metadata_update() and c.partitions_for_topic(topics.PAYMENTS_V1))]  # noqa: SLF001
        return await c.end_offsets(parts)
    finally:
        await c.stop()


async def _kafka_values(bootstrap: str, start: dict[TopicPartition, int], keys: set[str]) -> list[bytes]:
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await c.start()
    try:
        c.assign(list(start))
        for tp, offset in start.items():
            c.seek(tp, offset)
        end = await c.end_offsets(list(start))
        values: list[bytes] = []
        async def behind() -> bool:
            return any([await c.position(tp) < end[tp] for tp in start])
        while await behind():
            batch = await c.getmany(timeout_ms=500)
            for records in batch.values():
                values += [r.value for r in records if r.key and r.key.decode() in keys]
        return values
    finally:
        await c.stop()


async def test_no_full_number_anywhere(payments_env, caplog):
    env = payments_env
    caplog.set_level(logging.DEBUG)
    start = await _end_offsets(env.settings.kafka_bootstrap)
    day = date(2026, 6, 1)
    env.clock.set(day)
    numbers = {CARD}
    bans = set()
    for tail in ("55", "01", "02", "00"):
        ban, account = new_ban(), new_account(tail)
        numbers |= {account, account[:-2] + "56"}
        bans.add(ban)
        await env.open_account(ban, {2026: 9900})
        status, body = await env.pay({"billing_account_number": ban, "kind": "one_time",
                                      "amount": "total", "method": bank_method(account)})
        assert status == 201
        bad = {**bank_method(account), "account_number_confirmation": account + "1"}
        status, body = await env.pay({"billing_account_number": ban, "kind": "one_time",
                                      "amount": "total", "method": bad})
        assert status == 422 and account not in str(body)
    ban, account = new_ban(), new_account("10")
    numbers.add(account)
    bans.add(ban)
    await env.open_account(ban, {2026: 5000})
    r = await env.client.post(f"/accounts/{ban}/autopay", json={
        "idempotency_key": uuid.uuid4().hex, "method": bank_method(account), "contact": CONTACT})
    assert r.status == 201
    status, body = await env.pay({"billing_account_number": ban, "kind": "one_time",
                                  "amount": "10.00", "method": card_method(CARD)})
    assert status == 201
    await autopay.run_autopay(env.deps, date(2026, 6, 22))
    for d in (date(2026, 6, 1), date(2026, 6, 22)):
        await ach.run_cutoff(env.deps, d)
        env.bank.poll_once()
        await ach.run_returns(env.deps, d)
        await ach.run_settlement(env.deps, d)
    assert await env.pool.fetchval("SELECT count(*) FROM payments WHERE status = 'returned'") >= 3

    # Every column of every table, as text (the outbox payloads decoded too).
    tables = [r[0] for r in await env.pool.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
    dump = []
    for table in tables:
        dump.append(await env.pool.fetchval(f'SELECT coalesce(string_agg(t::text, E\'\\n\'), \'\') FROM "{table}" t'))
    dump += [bytes(r[0]).decode() for r in await env.pool.fetch("SELECT payload FROM outbox")]
    text = "\n".join(dump)
    assert "payment.returned" in text and "Maria Santos" in text  # the dump is not empty
    # Events on Kafka, once the relay has published them.
    await wait_for(lambda: env.pool.fetchval("SELECT count(*) = 0 FROM outbox WHERE sent_at IS NULL"),
                   what="outbox drained")
    values = await _kafka_values(env.settings.kafka_bootstrap, start, bans)
    assert {Envelope.from_bytes(v).event_type for v in values} >= {
        "payment.submitted", "payment.returned", "payment.settled", "method.updated", "autopay.created"}
    logs = caplog.text + "\n".join(str(vars(rec)) for rec in caplog.records)
    for number in numbers:
        assert number not in text, "a full number in a table"
        assert all(number.encode() not in v for v in values), "a full number on Kafka"
        assert number not in logs, "a full number in a log line"
    # The NACHA file is the one place the full number goes (to the bank).
    assert any(account in p.read_text() for p in env.outbound_dir().glob("*.ach"))
