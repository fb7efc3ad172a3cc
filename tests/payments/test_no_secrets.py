"""No full account or card number in any table column (outside the AES-GCM ciphertext), log
line, event on Kafka or error answer, after every path that touches one."""
from __future__ import annotations

import logging
import uuid
from datetime import date

from services.payments.service_layer import ach, autopay
from tests.payments.conftest import CONTACT, bank_method, card_method, new_account, new_ban

CARD = "6011111111111117"


async def test_no_full_number_anywhere(payments_env, caplog):
    env = payments_env
    caplog.set_level(logging.DEBUG)
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

    # Every column of every table, as text (events not yet published decoded too).
    tables = [r[0] for r in await env.pool.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
    dump = []
    for table in tables:
        dump.append(await env.pool.fetchval(f'SELECT coalesce(string_agg(t::text, E\'\\n\'), \'\') FROM "{table}" t'))
    dump += [bytes(r[0]).decode() for r in await env.pool.fetch("SELECT payload FROM outbox")]
    text = "\n".join(dump)
    assert "Maria Santos" in text and "returned" in text  # the dump is not empty
    # Every event payments published for these accounts, as a subscriber receives it.
    await env.tap.settled(env.pool)
    records = [r for r in env.tap.records() if r.key in bans]
    assert {r.envelope.event_type for r in records} >= {
        "payment.submitted", "payment.returned", "payment.settled", "method.updated", "autopay.created"}
    values = [r.value + b"".join(r.headers.values()) for r in records]
    logs = caplog.text + "\n".join(str(vars(rec)) for rec in caplog.records)
    for number in numbers:
        assert number not in text, "a full number in a table"
        assert all(number.encode() not in v for v in values), "a full number on Kafka"
        assert number not in logs, "a full number in a log line"
    # The NACHA file is the one place the full number goes (to the bank).
    assert any(account in p.read_text() for p in env.outbound_dir().glob("*.ach"))
