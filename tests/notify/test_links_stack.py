"""Every link of every message notify sends opens the running portal: the whole stack on
ports of its own (not 8080), one message of every type (each template of
services/notify/domain/messages.py) to a member in English and one in Spanish, by email and
by SMS, and every link of every email and text followed against the running gateway.

Portal accounts, their SMS opt-in, the password reset and the username reminder go through
the real services; the payment, billing and coverage events are published as their
producers publish them; the due-date reminder comes from notify's own job."""
from __future__ import annotations

import asyncio
import re
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from urllib.parse import urlsplit

import aiohttp
import asyncpg
from aiokafka import AIOKafkaProducer

from services.notify.domain.messages import OPERATOR_TEMPLATES, TEMPLATES
from shared.contracts.topics import topic_for
from tests.notify.events import Household

LINK = re.compile(r"""https?://[^\s<>"')]+""")
PASSWORD = "plum tractor sunrise 42"


def links_in(*texts: str) -> set[str]:
    return {m.group(0).rstrip(".,;:") for text in texts for m in LINK.finditer(text or "")}


async def csrf(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(url) as r:
        assert r.status == 200, url
        return re.search(r'name="csrf_token" value="([^"]+)"', await r.text()).group(1)


async def register(stack, member: dict, language: str) -> str:
    """A portal account for the member (identity's own API), opted into texts."""
    body = {"plan_type": member["plan_type"], "id_type": "enrollment_id",
            "id_value": member["enrollment_id"], "first_name": member["first_name"],
            "last_name": member["last_name"], "date_of_birth": member["date_of_birth"].isoformat(),
            "username": f"links{uuid.uuid4().hex[:8]}", "email": member["email"],
            "password": PASSWORD, "phone": member["phone"], "language": language,
            "client_ip": "198.51.100.200"}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{stack.identity_url}/members", json=body,
                             headers=stack.headers("identity")) as r:
            assert r.status == 201, await r.text()
            member_id = (await r.json())["member_id"]
        async with http.patch(f"{stack.identity_url}/members/{member_id}/contact",
                              json={"sms_enabled": True, "email_enabled": True},
                              headers=stack.headers("identity")) as r:
            assert r.status == 200, await r.text()
    member["username"] = body["username"]
    return member_id


async def ask_the_portal_for_reset_and_username(stack, member: dict) -> None:
    """The member uses the portal's own forms: 'forgot password' and 'forgot username'."""
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        token = await csrf(http, f"{stack.gateway_url}/forgot-password")
        async with http.post(f"{stack.gateway_url}/forgot-password",
                             data={"username": member["username"], "csrf_token": token}) as r:
            assert r.status == 200, await r.text()
        token = await csrf(http, f"{stack.gateway_url}/forgot-username")
        async with http.post(f"{stack.gateway_url}/forgot-username",
                             data={"email": member["email"], "csrf_token": token}) as r:
            assert r.status == 200, await r.text()


async def publish(bootstrap: str, events) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await asyncio.gather(*[await producer.send(topic_for(e.event_type), e.to_bytes(),
                                                   key=e.key.encode(), headers=e.headers())
                               for e in events])
    finally:
        await producer.stop()


async def wait_for_notify_profile(dsn: str, member_id: str, timeout_s: float = 30) -> None:
    """notify has the member's SMS opt-in and account link (so texts go out too)."""
    deadline = time.monotonic() + timeout_s
    conn = await asyncpg.connect(dsn)
    try:
        while time.monotonic() < deadline:
            if await conn.fetchval(
                    """SELECT m.sms_enabled AND EXISTS (SELECT 1 FROM member_accounts a
                                                         WHERE a.member_id = m.member_id)
                       FROM members m WHERE m.member_id = $1""", member_id):
                return
            await asyncio.sleep(0.3)
    finally:
        await conn.close()
    raise TimeoutError(f"notify never learned member {member_id}'s preferences")


async def wait_for_balance(dsn: str, ban: str, timeout_s: float = 30) -> None:
    """notify knows what the account owes (billing's balance.changed)."""
    deadline = time.monotonic() + timeout_s
    conn = await asyncpg.connect(dsn)
    try:
        while time.monotonic() < deadline:
            if await conn.fetchval("SELECT total_balance_cents > 0 FROM balances "
                                   "WHERE billing_account_number = $1", ban):
                return
            await asyncio.sleep(0.3)
    finally:
        await conn.close()
    raise TimeoutError(f"notify never learned what account {ban} owes")


async def sent_messages(dsn: str, ban: str, member_id: str, email: str, want: set[str],
                        timeout_s: float = 90) -> list[asyncpg.Record]:
    """notify's sent notifications for this member, once every template has gone out."""
    deadline = time.monotonic() + timeout_s
    conn = await asyncpg.connect(dsn)
    try:
        while True:
            rows = await conn.fetch(
                """SELECT template, channel, language, recipient, status, subject, body_text,
                          body_html, provider_id
                   FROM notifications
                   WHERE billing_account_number = $1 OR member_id = $2 OR recipient = $3""",
                ban, member_id, email)
            sent = {r["template"] for r in rows if r["status"] == "sent"}
            pending = [r for r in rows if r["status"] == "pending"]
            if want <= sent and not pending:
                return rows
            if time.monotonic() > deadline:
                raise AssertionError(f"templates never sent: {sorted(want - sent)}; "
                                     f"pending: {[r['template'] for r in pending]}")
            await asyncio.sleep(0.5)
    finally:
        await conn.close()


async def delivered(stack, member: dict) -> tuple[list[dict], list[dict]]:
    """The emails the mail catcher received and the texts the SMS provider recorded."""
    emails = await stack.emails_to(member["email"])
    phone = "+1" + member["phone"]
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{stack.sandbox_url}/sms/v1/messages", params={"to": phone}) as r:
            r.raise_for_status()
            texts = (await r.json())["messages"]
    return emails, texts


async def opens_a_page(http: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    """GET the link as a member's browser would (following redirects): the final status and
    the page's <h1>."""
    async with http.get(url, allow_redirects=True) as r:
        page = await r.text()
        heading = re.search(r"<h1[^>]*>(.*?)</h1>", page, re.S)
        return r.status, (heading.group(1).strip() if heading else "")


async def test_every_link_of_every_message_opens_a_portal_page(stack):
    portal = urlsplit(stack.gateway_url)
    assert portal.port != 8080, "the test stack runs on ports of its own"
    dsn = stack.stack.config.dsn_of["notify"]
    want = set(TEMPLATES) - set(OPERATOR_TEMPLATES)  # a member's messages
    checked: dict[str, set[str]] = {}
    for language in ("en", "es"):
        member = await stack.seed_member(language=language)
        ban = member["billing_account_number"]
        member_id = await register(stack, member, language)
        await wait_for_notify_profile(dsn, member_id)
        await ask_the_portal_for_reset_and_username(stack, member)
        # The due-date reminder first (the payment events below pay the balance off):
        # notify's job, run for the business date five days before the binder is due.
        await wait_for_balance(dsn, ban)
        due = await binder_due_date(stack, ban)
        stack.run_cli("notify", "reminders", "--date", (due - timedelta(days=5)).isoformat())
        h = Household(language=language)
        h.ban, h.member_id, h.email = ban, member_id, member["email"]
        h.phone, h.first_name = member["phone"], member["first_name"]
        h.contact = {"email": member["email"], "phone": member["phone"], "language": language}
        own = {"password.reset_requested", "username.reminder_requested"}   # sent for real above
        await publish(stack.infra.kafka_bootstrap,
                      [e for e in h.all_message_events(f"HC{uuid.uuid4().hex[:8].upper()}")
                       if e.event_type not in own])

        # The 4-hour rule's reminder: asked for through notify's API, due a moment from now.
        async with aiohttp.ClientSession() as http:
            when = (datetime.now(timezone.utc) + timedelta(seconds=2)).isoformat()
            async with http.post(f"{stack.notify_url}/payable-reminders", headers=stack.headers("notify"),
                                 json={"channel": "email", "email": member["email"], "language": language,
                                       "payable_at": when}) as r:
                assert r.status == 202, await r.text()
        rows = await sent_messages(dsn, ban, member_id, member["email"], want)
        assert {r["template"] for r in rows if r["channel"] == "sms"}, "texts went out too"
        assert all(r["language"] == language for r in rows)
        emails, texts = await delivered(stack, member)
        # (an email-address change also tells the new address: only the member's own count here)
        assert len(emails) >= len([r for r in rows if r["channel"] == "email"
                                   and r["recipient"] == member["email"]])
        assert len(texts) >= len([r for r in rows if r["channel"] == "sms"])

        by_template: dict[str, set[str]] = {}
        for r in rows:
            found = links_in(r["subject"], r["body_text"], r["body_html"] or "")
            by_template.setdefault(r["template"], set()).update(found)
        for message in emails:
            found = links_in(message.get("text", ""), message.get("html", ""))
            assert found, f"an email without a link: {message.get('subject')}"
            checked.setdefault("email", set()).update(found)
        for message in texts:
            checked.setdefault("sms", set()).update(links_in(message.get("body", "")))
        for template, found in by_template.items():
            assert found, f"{template} ({language}) has no link to the portal"
            for link in found:
                assert link.startswith(stack.gateway_url + "/") or link == stack.gateway_url, \
                    f"{template} ({language}) links to {link}, not to the running portal"
    assert checked.get("sms"), "no text carried a link"
    reset_links = {link for link in checked["email"] if "/reset-password?token=" in link}
    assert reset_links, "the password-reset email carries the real reset link"
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        for link in sorted(checked["email"] | checked["sms"]):
            status, heading = await opens_a_page(http, link)
            assert status == 200, f"{link} answered {status}"
            assert heading and "not found" not in heading.lower(), f"{link} opened {heading!r}"


async def binder_due_date(stack, ban: str) -> date:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{stack.billing_url}/accounts/{ban}/invoices",
                            headers=stack.headers("billing")) as r:
            assert r.status == 200, await r.text()
            invoices = (await r.json())["invoices"]
    return min(date.fromisoformat(i["due_date"]) for i in invoices)
