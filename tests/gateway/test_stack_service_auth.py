"""END-TO-END: the internal services answer only known callers (shared/service_auth.py),
against the real running stack. Each probe is one an attacker on the internal network made
before callers had to prove who they are; the gateway, which holds a key, still works."""
from __future__ import annotations

import time
import uuid

import aiohttp
import pytest

from shared.service_auth import TokenSigner
from tests.gateway.test_stack_api import BANK, lookup, lookup_body
from tests.helpers import wait_for

PASSWORD = "Long-Enough-Password-9"


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


async def answer(http, method: str, url: str, **kwargs) -> tuple[int, dict]:
    async with http.request(method, url, **kwargs) as r:
        body = await r.json(content_type=None) if r.content_type == "application/json" else {}
        return r.status, body


async def assert_refused(http, method: str, url: str, **kwargs) -> None:
    status, body = await answer(http, method, url, **kwargs)
    assert status == 401, (method, url, status, body)
    assert body["error"]["code"] == "invalid_service_token", body


async def registered(stack, http) -> tuple[dict, str]:
    """A seeded member with a portal account opened through the gateway; its member id."""
    member = await stack.seed_member(shopped_hours_ago=5)
    body = {**lookup_body(member), "username": f"auth{member['enrollment_id'][-8:]}",
            "email": member["email"], "password": PASSWORD}
    status, created = await answer(http, "POST", f"{stack.gateway_url}/api/v1/members", json=body)
    assert status == 201, created
    return member, created["member_id"]


async def test_every_probe_of_the_internal_apis_without_credentials_is_refused(stack, http):
    member, member_id = await registered(stack, http)
    ban = member["billing_account_number"]
    ident, bill, pay, note = stack.identity_url, stack.billing_url, stack.payments_url, stack.notify_url
    # identity: a lookup with a made-up client address, a contact change, a reset link.
    await assert_refused(http, "POST", f"{ident}/lookups",
                         json={**lookup_body(member), "client_ip": "203.0.113.7"})
    await assert_refused(http, "PATCH", f"{ident}/members/{member_id}/contact",
                         json={"email": "attacker@evil.example"})
    await assert_refused(http, "POST", f"{ident}/password-resets",
                         json={"email": member["email"], "base_url": "https://evil.example/steal"})
    await assert_refused(http, "GET", f"{ident}/members/{member_id}")
    # billing: any balance or ledger.
    await assert_refused(http, "GET", f"{bill}/accounts/{ban}")
    await assert_refused(http, "GET", f"{bill}/accounts/{ban}/ledger")
    await assert_refused(http, "GET", f"{bill}/accounts", params={"household_id": member["household_id"]})
    # payments: create a payment, set up, redirect and cancel an autopay.
    contact = {"email": member["email"], "phone": None, "language": "en"}
    await assert_refused(http, "POST", f"{pay}/payments", json={
        "idempotency_key": str(uuid.uuid4()), "billing_account_number": ban, "kind": "one_time",
        "amount": "10.00", "method": BANK, "contact": contact, "channel": "guest"})
    await assert_refused(http, "POST", f"{pay}/accounts/{ban}/autopay",
                         json={"idempotency_key": str(uuid.uuid4()), "method": BANK, "contact": contact})
    await assert_refused(http, "PUT", f"{pay}/accounts/{ban}/autopay/method", json={"method": BANK})
    await assert_refused(http, "DELETE", f"{pay}/accounts/{ban}/autopay")
    await assert_refused(http, "GET", f"{pay}/accounts/{ban}/owed")
    # notify: anyone's notifications.
    await assert_refused(http, "GET", f"{note}/notifications", params={"billing_account_number": ban})
    # Metrics and event documents, on every service and on the gateway.
    for url in (ident, bill, pay, note):
        await assert_refused(http, "GET", f"{url}/metrics")
        await assert_refused(http, "GET", f"{url}/asyncapi.json")
        assert (await answer(http, "GET", f"{url}/healthz"))[0] == 200
    await assert_refused(http, "GET", f"{stack.gateway_url}/metrics")
    # Nothing happened: the email is the member's, no payment and no autopay exist.
    operator = {s: stack.headers(s) for s in ("identity", "payments")}
    status, profile = await answer(http, "GET", f"{ident}/members/{member_id}", headers=operator["identity"])
    assert status == 200 and profile["contact"]["email"] == member["email"]
    status, history = await answer(http, "GET", f"{pay}/accounts/{ban}/payments", headers=operator["payments"])
    assert status == 200 and history["payments"] == []
    status, _ = await answer(http, "GET", f"{pay}/accounts/{ban}/autopay", headers=operator["payments"])
    assert status == 404


async def test_a_reset_link_goes_to_the_public_url_whatever_the_request_says(stack, http):
    member, _ = await registered(stack, http)
    # Even the gateway's own key cannot point a reset link elsewhere.
    status, _ = await answer(http, "POST", f"{stack.identity_url}/password-resets",
                             json={"email": member["email"], "base_url": "https://evil.example/steal"},
                             headers=stack.headers("identity", caller="gateway"))
    assert status == 202

    async def reset_mail() -> str | None:
        for message in await stack.emails_to(member["email"]):
            text = (message.get("text") or "") + (message.get("html") or "")
            if "reset-password?token=" in text:
                return text
        return None
    text = await wait_for(reset_mail, timeout_s=60, poll_s=0.5, what="the reset email")
    assert f"{stack.gateway_url}/reset-password?token=" in text
    assert "evil.example" not in text


async def test_wrong_audience_expired_or_unknown_tokens_get_401_and_other_callers_403(stack, http):
    member = await stack.seed_member(shopped_hours_ago=5)
    ban = member["billing_account_number"]
    keys = stack.stack.config.service_keys
    gateway = TokenSigner.from_keys(keys, "gateway")
    lookup_url = f"{stack.identity_url}/lookups"
    body = {**lookup_body(member), "client_ip": "198.51.100.200"}

    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    # For billing, not identity.
    await assert_refused(http, "POST", lookup_url, json=body, headers=gateway.headers("billing"))
    # Made two minutes ago, good for one.
    stale = TokenSigner("gateway", keys["gateway"], clock=lambda: time.time() - 120)
    await assert_refused(http, "POST", lookup_url, json=body, headers=bearer(stale.mint("identity")))
    # A key nobody was given, and a token that is not one.
    forger = TokenSigner("gateway", {next(iter(keys["gateway"])): "guessed-secret"})
    await assert_refused(http, "POST", lookup_url, json=body, headers=bearer(forger.mint("identity")))
    await assert_refused(http, "POST", lookup_url, json=body, headers={"Authorization": "Basic Z2F0ZXdheTo="})
    # Known callers outside their permissions.
    for url, method, caller, service in (
            (lookup_url, "POST", "metrics", "identity"),
            (f"{stack.billing_url}/accounts/{ban}/ledger", "GET", "metrics", "billing"),
            (f"{stack.billing_url}/accounts?household_id={member['household_id']}", "GET", "gateway", "billing"),
            (f"{stack.identity_url}/metrics", "GET", "gateway", "identity")):
        status, error = await answer(http, method, url, json=body if method == "POST" else None,
                                     headers=stack.headers(service, caller=caller))
        assert status == 403 and error["error"]["code"] == "caller_not_allowed", (url, caller, error)
    # Within them: the scraper reads every /metrics (the gateway's too), the gateway looks up.
    for service in ("identity", "billing", "payments", "notify", "gateway"):
        async with http.get(f"{stack.ports.url(service)}/metrics",
                            headers=stack.headers(service, caller="metrics")) as r:
            assert r.status == 200 and "http_requests_total" in await r.text(), service
    status, found = await answer(http, "POST", lookup_url, json=body, headers=gateway.headers("identity"))
    assert status == 200 and found["billing_account_number"] == ban


async def test_the_gateway_still_serves_members_through_its_own_tokens(stack, http):
    member = await stack.seed_member(shopped_hours_ago=5)
    found = await lookup(http, stack, member)
    auth = {"Authorization": f"Bearer {found['lookup_token']}"}
    ban = found["billing_account_number"]
    body = {"billing_account_number": ban, "kind": "one_time", "amount": "5.00", "method": BANK,
            "contact": {"email": member["email"], "email_confirmation": member["email"],
                        "phone": member["phone"]}}
    status, paid = await answer(http, "POST", f"{stack.gateway_url}/api/v1/payments", json=body,
                                headers={**auth, "Idempotency-Key": str(uuid.uuid4())})
    assert status == 201, paid

    async def listed() -> bool:
        status, history = await answer(http, "GET", f"{stack.gateway_url}/api/v1/billing-accounts/{ban}/payments",
                                       headers=auth)
        return status == 200 and [p["payment_id"] for p in history["payments"]] == [paid["payment_id"]]
    await wait_for(listed, timeout_s=10, what="the payment in the gateway's history")
