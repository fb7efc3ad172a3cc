"""Portal accounts: register, log in, lockout and unlock, password reset (once, expiring),
username reminder, contact changes; each with the identity.v1 event it must publish."""
from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlsplit

from tests.identity.integration.conftest import random_ip

PASSWORD = "correct horse battery staple"


async def register(env, m, username: str | None = None, **overrides):
    body = {**m.lookup("health", "enrollment_id"), "username": username or f"user{m.household_id[3:]}",
            "email": m.email, "password": PASSWORD, "phone": "617-555-0199", "language": "es",
            **overrides}
    return await env.client.post("/members", json=body)


async def login(env, username: str, password: str, ip: str | None = None):
    return await env.client.post("/sessions", json={"username": username, "password": password,
                                                     "client_ip": ip or random_ip()})


async def test_register_then_log_in_and_see_the_member(env):
    m = await env.enrolled()
    resp = await register(env, m, username="Maria.Santos" + m.household_id[3:8])
    assert resp.status == 201, await resp.text()
    created = await resp.json()
    username = created["username"]
    ok = await login(env, username.lower(), PASSWORD)   # usernames ignore case
    assert ok.status == 200 and (await ok.json())["member_id"] == created["member_id"]

    got = await env.client.get(f"/members/{created['member_id']}")
    member = await got.json()
    assert member["username"] == username and member["last_name"] == m.last_name
    assert sorted(a["billing_account_number"] for a in member["accounts"]) == sorted(m.bans.values())
    assert member["contact"] == {"email": m.email, "phone": "617-555-0199", "language": "es",
                                 "email_enabled": True, "sms_enabled": False}
    assert member["ssn_last4"] == m.ssn[-4:]

    [event] = [e for e in await env.outbox("member.registered") if e.key == created["member_id"]]
    assert event.data == {"member_id": created["member_id"], "username": username,
                          "first_name": "Maria", "last_name": m.last_name,
                          "billing_account_numbers": [m.bans["dental"], m.bans["health"]],
                          "email": m.email, "phone": "617-555-0199", "language": "es"}


async def test_registering_again_answers_as_the_first_time_and_emails_the_account_instead(env):
    m, other = await env.enrolled(), await env.enrolled()
    first = await register(env, m, username="taken" + m.household_id[3:9])
    again = await register(env, m, username="another" + m.household_id[3:9], email="someone@example.org")
    assert (first.status, again.status) == (201, 201)
    body_first, body_again = await first.json(), await again.json()
    assert body_again == {**body_first, "username": "another" + m.household_id[3:9]}
    # Nothing was created: the account keeps its username, password and address.
    assert (await login(env, "another" + m.household_id[3:9], PASSWORD)).status == 401
    assert (await login(env, "taken" + m.household_id[3:9], PASSWORD)).status == 200
    [told] = [e for e in await env.outbox("member.registration_repeated") if e.key == body_first["member_id"]]
    assert told.data == {"member_id": body_first["member_id"], "username": "taken" + m.household_id[3:9],
                         "email": m.email, "language": "es"}
    taken = await register(env, other, username="TAKEN" + m.household_id[3:9])
    assert taken.status == 409 and (await taken.json())["error"]["code"] == "username_taken"


async def test_register_with_a_wrong_date_of_birth_is_not_found(env):
    m = await env.enrolled()
    resp = await register(env, m, date_of_birth="1984-03-14")
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"
    assert await env.pool.fetchval("SELECT count(*) FROM accounts a JOIN members USING (member_id) "
                                   "WHERE household_id = $1", m.household_id) == 0


async def test_wrong_passwords_pause_log_ins_alike_for_known_and_unknown_names(env):
    m = await env.enrolled()
    username = "lock" + m.household_id[3:12]
    member_id = (await (await register(env, m, username=username)).json())["member_id"]
    answers = {}
    for name in (username, "nobody-" + username):
        ip = random_ip()
        tries = [await login(env, name, "wrong password 1", ip) for _ in range(3)]
        answers[name] = [(r.status, await r.json()) for r in tries]
        # Paused from this address, even with the right password (for a few seconds).
        paused = await login(env, name, PASSWORD, ip)
        assert paused.status == 429
        answers[name].append((429, await paused.json()))
    known, unknown = answers[username], answers["nobody-" + username]
    assert [status for status, _ in known] == [401, 401, 429, 429]
    assert known == unknown   # the same statuses and bodies: nothing says which name exists
    assert known[2][1]["error"] == {"code": "throttled", "retry_after_s": 2, "fields": {},
                                    "message": "Too many attempts. Please try again in 1 minute."}
    # The member, from their own address, is not locked out by a stranger's guesses.
    assert (await login(env, username, PASSWORD)).status == 200
    [told] = [e for e in await env.outbox("member.login_throttled") if e.key == member_id]
    assert set(told.data) == {"member_id", "billing_account_numbers", "retry_at", "email", "phone", "language"}
    assert told.data["email"] == m.email and told.data["language"] == "es"


async def test_log_in_pauses_grow_and_end_and_the_account_wide_count_holds_across_addresses(env):
    m = await env.enrolled()
    username = "grow" + m.household_id[3:12]
    await register(env, m, username=username)
    ip = random_ip()
    assert [(await login(env, username, "nope nope nope", ip)).status for _ in range(3)] == [401, 401, 429]
    await asyncio.sleep(2.1)
    fourth = await login(env, username, "nope nope nope", ip)        # the pause doubles
    assert fourth.status == 429 and (await fourth.json())["error"]["retry_after_s"] == 4
    await asyncio.sleep(4.1)
    assert (await login(env, username, PASSWORD, ip)).status == 200   # over: the run is forgotten
    assert (await login(env, username, "nope nope nope", ip)).status == 401

    # Six failures from six addresses pause the username everywhere (briefly, capped).
    other = await env.enrolled()
    spread = "spread" + other.household_id[3:12]
    await register(env, other, username=spread)
    statuses = [(await login(env, spread, f"guess number {i}")).status for i in range(6)]
    assert statuses == [401] * 5 + [429]
    assert (await login(env, spread, PASSWORD)).status == 429
    await asyncio.sleep(2.1)
    assert (await login(env, spread, PASSWORD)).status == 200


async def reset_link(env, member_id: str) -> str:
    events = [e for e in await env.outbox("password.reset_requested") if e.key == member_id]
    return events[-1].data["reset_url"]


async def test_password_reset_works_once(env):
    m = await env.enrolled()
    username = "reset" + m.household_id[3:12]
    member_id = (await (await register(env, m, username=username)).json())["member_id"]
    # A base_url in the request is ignored: the link is on the configured public URL.
    asked = await env.client.post("/password-resets", json={
        "username": username, "base_url": "https://evil.example/steal"})
    assert asked.status == 202
    url = await reset_link(env, member_id)
    assert url.startswith("https://portal.example.org/reset-password?token=")
    assert "evil.example" not in url
    token = parse_qs(urlsplit(url).query)["token"][0]
    [event] = [e for e in await env.outbox("password.reset_requested") if e.key == member_id]
    assert set(event.data) == {"member_id", "email", "phone", "language", "reset_url", "expires_at"}
    assert event.data["email"] == m.email
    # Only the token's hash is stored.
    stored = await env.pool.fetch("SELECT token_hash::text AS h FROM password_resets")
    assert all(token not in r["h"] for r in stored)

    async def state(t: str) -> str:
        resp = await env.client.post("/password-resets/check", json={"token": t})
        assert resp.status == 200
        return (await resp.json())["state"]
    assert await state(token) == "usable" and await state("not-a-token") == "unknown"
    weak = await env.client.post("/password-resets/confirm", json={"token": token, "new_password": "password123"})
    assert weak.status == 422 and "new_password" in (await weak.json())["error"]["fields"]
    new_password = "a brand new long passphrase"
    ok = await env.client.post("/password-resets/confirm", json={"token": token, "new_password": new_password})
    assert ok.status == 200
    again = await env.client.post("/password-resets/confirm", json={"token": token, "new_password": new_password + "!"})
    assert again.status == 400 and (await again.json())["error"]["code"] == "invalid_or_expired_token"
    assert await state(token) == "used"   # the page can say so before the form
    assert (await login(env, username, PASSWORD)).status == 401
    assert (await login(env, username, new_password)).status == 200
    [changed] = [e for e in await env.outbox("member.password_changed") if e.key == member_id]
    assert changed.data["email"] == m.email and changed.data["language"] == "es"
    assert set(changed.data) == {"member_id", "changed_at", "email", "phone", "language"}


async def test_password_reset_token_expires(env):
    m = await env.enrolled()
    username = "expire" + m.household_id[3:12]
    member_id = (await (await register(env, m, username=username)).json())["member_id"]
    await env.client.post("/password-resets", json={"email": m.email, "base_url": "http://127.0.0.1:8080/reset"})
    token = parse_qs(urlsplit(await reset_link(env, member_id)).query)["token"][0]
    await asyncio.sleep(env.settings.password_reset_ttl_s + 0.2)
    checked = await env.client.post("/password-resets/check", json={"token": token})
    assert (await checked.json())["state"] == "expired"
    late = await env.client.post("/password-resets/confirm", json={"token": token, "new_password": "too late for this one"})
    assert late.status == 400
    assert (await login(env, username, PASSWORD)).status == 200


async def test_password_reset_forgets_the_wrong_passwords(env):
    m = await env.enrolled()
    username = "unlock" + m.household_id[3:12]
    member_id = (await (await register(env, m, username=username)).json())["member_id"]
    ip = random_ip()
    for _ in range(3):
        await login(env, username, "not the password", ip)
    assert (await login(env, username, PASSWORD, ip)).status == 429
    await env.client.post("/password-resets", json={"username": username, "base_url": "http://x.test/r"})
    token = parse_qs(urlsplit(await reset_link(env, member_id)).query)["token"][0]
    assert (await env.client.post("/password-resets/confirm",
                                  json={"token": token, "new_password": "unlocked by the reset"})).status == 200
    assert (await login(env, username, "unlocked by the reset", ip)).status == 200


async def test_reset_and_reminder_for_unknown_accounts_answer_the_same_and_send_nothing(env):
    before = len(await env.outbox())
    for body in ({"username": "no-such-user", "base_url": "http://x.test/r"},
                 {"email": "nobody@example.org", "base_url": "http://x.test/r"}):
        assert (await env.client.post("/password-resets", json=body)).status == 202
    assert (await env.client.post("/username-reminders", json={"email": "nobody@example.org"})).status == 202
    assert len(await env.outbox()) == before


async def test_username_reminder(env):
    m = await env.enrolled()
    username = "remind" + m.household_id[3:12]
    member_id = (await (await register(env, m, username=username)).json())["member_id"]
    resp = await env.client.post("/username-reminders", json={"email": m.email.upper()})
    assert resp.status == 202
    [event] = [e for e in await env.outbox("username.reminder_requested") if e.key == member_id]
    assert event.data == {"member_id": member_id, "username": username, "email": m.email, "language": "es"}


async def test_change_contact_details(env):
    m = await env.enrolled()
    member_id = (await (await register(env, m, username="contact" + m.household_id[3:12])).json())["member_id"]
    change = {"email": "new@example.org", "sms_enabled": True, "language": "en"}
    for password, problem in ((None, "is required to change the email address"),
                              ("not my password at all", "is not correct")):
        refused = await env.client.patch(f"/members/{member_id}/contact",
                                         json={**change, "current_password": password})
        assert refused.status == 422
        assert (await refused.json())["error"]["fields"] == {"current_password": problem}
    assert not await env.outbox("member.email_changed")
    resp = await env.client.patch(f"/members/{member_id}/contact",
                                  json={**change, "current_password": PASSWORD})
    assert resp.status == 200
    assert (await resp.json())["contact"] == {"email": "new@example.org", "phone": "617-555-0199",
                                              "language": "en", "email_enabled": True, "sms_enabled": True}
    [event] = [e for e in await env.outbox("member.contact_changed") if e.key == member_id]
    assert event.data == {"member_id": member_id, "billing_account_numbers": [m.bans["dental"], m.bans["health"]],
                          "email": "new@example.org", "phone": "617-555-0199", "language": "en",
                          "email_enabled": True, "sms_enabled": True}
    [moved] = [e for e in await env.outbox("member.email_changed") if e.key == member_id]
    assert moved.data == {"member_id": member_id, "old_email": m.email, "new_email": "new@example.org",
                          "changed_at": moved.data["changed_at"], "language": "en"}
    # Other details (and the same address again) need no password.
    same = await env.client.patch(f"/members/{member_id}/contact", json={"email": "new@example.org",
                                                                         "phone": "617-555-0123"})
    assert same.status == 200
    unchanged = await env.client.patch(f"/members/{member_id}/contact", json={})
    assert unchanged.status == 200 and (await unchanged.json())["contact"]["email"] == "new@example.org"
    assert len([e for e in await env.outbox("member.contact_changed") if e.key == member_id]) == 2
    # Clearing the phone number clears it (and texts with it), with the event saying so.
    cleared = await env.client.patch(f"/members/{member_id}/contact", json={"phone": None})
    assert (await cleared.json())["contact"]["phone"] is None
    assert (await cleared.json())["contact"]["sms_enabled"] is False
    events = [e for e in await env.outbox("member.contact_changed") if e.key == member_id]
    assert len(events) == 3 and events[-1].data["phone"] is None and events[-1].data["sms_enabled"] is False
    blank = await env.client.patch(f"/members/{member_id}/contact", json={"phone": " "})
    assert blank.status == 200 and (await blank.json())["contact"]["phone"] is None
    bad = await env.client.patch(f"/members/{member_id}/contact", json={"email_enabled": "yes"})
    assert bad.status == 422
    missing = await env.client.patch("/members/00000000-0000-0000-0000-000000000000/contact", json={})
    assert missing.status == 404
    assert (await env.client.get("/members/not-a-uuid")).status == 404
