"""END-TO-END portal accounts on the running system (tests/stack.py: every service, real
Kafka and PostgreSQL, the mail catcher): registering twice answers the same and emails the
account; wrong passwords pause log-ins alike for known and unknown names and the member is
emailed; a password reset ends every other session and is emailed; a new email address
needs the current password and both addresses are told; sessions end at their absolute
lifetime."""
from __future__ import annotations

import re
import uuid

import aiohttp
import asyncpg
import pytest

from tests.gateway.test_portal import csrf_of

PASSWORD = "correct horse battery staple"


def client() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


def registration(member: dict, username: str, **overrides) -> dict:
    return {"plan_type": member["plan_type"], "id_type": "enrollment_id",
            "id_value": member["enrollment_id"], "first_name": member["first_name"],
            "last_name": member["last_name"], "date_of_birth": member["date_of_birth"].isoformat(),
            "username": username, "email": member["email"], "password": PASSWORD,
            "language": "en", **overrides}


async def log_in(http, stack, username: str, password: str = PASSWORD) -> tuple[int, dict]:
    async with http.post(f"{stack.gateway_url}/api/v1/sessions",
                         json={"username": username, "password": password}) as r:
        return r.status, await r.json()


async def me_status(http, stack) -> int:
    async with http.get(f"{stack.gateway_url}/api/v1/me") as r:
        return r.status


@pytest.fixture
async def member(stack):
    m = await stack.seed_member()
    m["username"] = "acct" + uuid.uuid4().hex[:10]
    async with client() as http:
        async with http.post(f"{stack.gateway_url}/api/v1/members",
                             json=registration(m, m["username"])) as r:
            assert r.status == 201, await r.text()
            m["registered"] = await r.json()
    return m


async def test_registering_again_answers_the_same_and_emails_the_account(stack, member):
    async with client() as http:
        async with http.post(f"{stack.gateway_url}/api/v1/members", json=registration(
                member, "other" + member["username"], email="someone.else@example.org")) as r:
            assert r.status == 201
            assert await r.json() == {**member["registered"], "username": "other" + member["username"]}
        told = await stack.wait_for_email(member["email"], "You already have a Health Connector account")
        assert member["username"] in told["text"]
        assert await stack.emails_to("someone.else@example.org") == []
        assert (await log_in(http, stack, "other" + member["username"]))[0] == 401


async def test_wrong_passwords_pause_log_ins_the_same_for_unknown_names_and_tell_the_member(stack, member):
    async with client() as http:
        known = [await log_in(http, stack, member["username"], "wrong password here") for _ in range(5)]
        unknown = [await log_in(http, stack, "nobody" + member["username"], "wrong password here")
                   for _ in range(5)]
        assert [s for s, _ in known] == [401, 401, 401, 401, 429]
        assert known == unknown
        assert known[-1][1]["error"]["retry_after_s"] == 30
        paused = await log_in(http, stack, member["username"])      # even the right password waits
        assert paused[0] == 429 and 0 < paused[1]["error"]["retry_after_s"] <= 30
        told = await stack.wait_for_email(member["email"], "paused")
        assert "not locked" in told["text"] and " ET" in told["text"]


async def test_a_password_reset_ends_every_other_session_and_is_emailed(stack, member):
    async with client() as first, client() as second, client() as browser:
        for http in (first, second):
            assert (await log_in(http, stack, member["username"]))[0] == 200
            assert await me_status(http, stack) == 200
        async with browser.post(f"{stack.gateway_url}/api/v1/password-resets",
                                json={"kind": "password", "username": member["username"]}) as r:
            assert r.status == 202
        link = await stack.wait_for_email(member["email"], "Reset your Health Connector password")
        token = re.search(r"token=([A-Za-z0-9_-]+)", link["text"]).group(1)
        async with browser.get(f"{stack.gateway_url}/reset-password", params={"token": token}) as r:
            csrf = csrf_of(await r.text())
        new_password = "a brand new long passphrase"
        async with browser.post(f"{stack.gateway_url}/reset-password", allow_redirects=False, data={
                "token": token, "new_password": new_password, "password_confirmation": new_password,
                "csrf_token": csrf}) as r:
            assert r.status in (302, 303) and r.headers["Location"].startswith("/login?reset=1")
        assert [await me_status(first, stack), await me_status(second, stack)] == [401, 401]
        told = await stack.wait_for_email(member["email"], "password was changed")
        assert "every other session" in told["text"]
        assert (await log_in(first, stack, member["username"], new_password))[0] == 200


async def test_a_new_email_address_needs_the_password_and_both_addresses_are_told(stack, member):
    new_email = f"new.{member['username']}@example.org"
    async with client() as http:
        status, opened = await log_in(http, stack, member["username"])
        assert status == 200
        headers = {"X-CSRF-Token": opened["csrf_token"]}
        url = f"{stack.gateway_url}/api/v1/me/contact"
        async with http.patch(url, json={"email": new_email}, headers=headers) as r:
            assert r.status == 422 and "current_password" in (await r.json())["error"]["fields"]
        async with http.patch(url, json={"email": new_email, "current_password": "not it at all"},
                              headers=headers) as r:
            assert r.status == 422 and "current_password" in (await r.json())["error"]["fields"]
        async with http.patch(url, json={"phone": "6175550123"}, headers=headers) as r:
            assert r.status == 200                                   # no password for the rest
        async with http.patch(url, json={"email": new_email, "current_password": PASSWORD},
                              headers=headers) as r:
            assert r.status == 200 and (await r.json())["contact"]["email"] == new_email
    to_old = await stack.wait_for_email(member["email"], "email address of your Health Connector account")
    to_new = await stack.wait_for_email(new_email, "email address of your Health Connector account")
    assert new_email in to_old["text"] and new_email in to_new["text"]


async def test_a_session_ends_at_its_absolute_lifetime_however_busy(stack, member):
    async with client() as http:
        assert (await log_in(http, stack, member["username"]))[0] == 200
        assert await me_status(http, stack) == 200
        conn = await asyncpg.connect(stack.stack.config.dsn_of["gateway"])
        try:  # as if it had been in use, never idle, for 11 h 59 min, then 12 h 1 min
            await conn.execute("UPDATE sessions SET created_at = now() - interval '11 hours 59 minutes' "
                               "WHERE member_id = $1", member["registered"]["member_id"])
            assert await me_status(http, stack) == 200
            expires = await conn.fetchval("SELECT expires_at - created_at FROM sessions WHERE member_id = $1",
                                          member["registered"]["member_id"])
            assert expires.total_seconds() <= 12 * 3600    # the idle timeout does not reach past it
            await conn.execute("UPDATE sessions SET created_at = now() - interval '12 hours 1 minute' "
                               "WHERE member_id = $1", member["registered"]["member_id"])
        finally:
            await conn.close()
        assert await me_status(http, stack) == 401
