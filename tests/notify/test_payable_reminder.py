"""The 4-hour rule's reminder: asked for once or many times, it is sent once, at the time
the rule gives and not before, by email or SMS, in the person's language."""
from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone


async def ask(env, **body):
    r = await env.client.post("/payable-reminders", json=body)
    return r.status, await r.json()


async def test_an_email_reminder_goes_out_once_when_the_plan_becomes_payable(notify_env):
    env = notify_env
    address = f"payable-{uuid.uuid4().hex[:8]}@example.org"
    when = datetime.now(timezone.utc) + timedelta(seconds=3)
    body = {"channel": "email", "email": address, "language": "es", "payable_at": when.isoformat()}
    status, first = await ask(env, **body)
    assert status == 202 and first["already_scheduled"] is False, first
    status, again = await ask(env, **body)
    assert status == 202 and again["already_scheduled"] is True
    await asyncio.sleep(1.0)
    assert env.mail.to(address) == []  # not before its time
    [mail] = await env.wait_for_emails(address, 1, timeout_s=20)
    assert mail["subject"] == "Ya puede pagar su plan del Health Connector"
    assert "https://portal.example.org/quick-pay" in mail["text"] and " ET" in mail["text"]
    assert datetime.now(timezone.utc) >= when
    await asyncio.sleep(1.0)
    assert len(env.mail.to(address)) == 1


async def test_a_text_reminder_and_the_refusals(notify_env):
    env = notify_env
    when = datetime.now(timezone.utc) + timedelta(seconds=1)
    status, answer = await ask(env, channel="sms", phone="6175550142", language="en",
                               payable_at=when.isoformat())
    assert status == 202 and answer["recipient_masked"].endswith("0142")
    [text] = await env.wait_for(lambda: env.sms_store.to("+16175550142"), what="the SMS")
    assert "can be paid now" in text["body"] and "https://portal.example.org/quick-pay" in text["body"]
    # A time the 4-hour rule cannot give, a bad address or phone, a time without its zone.
    later = (datetime.now(timezone.utc) + timedelta(hours=5)).isoformat()
    for bad in ({"channel": "email", "email": "a@example.org", "payable_at": later},
                {"channel": "email", "email": "not-an-address", "payable_at": when.isoformat()},
                {"channel": "sms", "phone": "６１７５５５０１４２", "payable_at": when.isoformat()},
                {"channel": "email", "email": "a@example.org", "payable_at": "2026-12-01T10:00"},
                {"channel": "fax", "payable_at": when.isoformat()}):
        status, error = await ask(env, **bad)
        assert status == 422, (bad, error)
