"""Attacks on the boundaries, against the real running stack: path traversal through the gateway,
foreign digits in a payment, and no answer naming the server software."""
from __future__ import annotations

import uuid

import aiohttp
import pytest
from yarl import URL

from tests.gateway.test_stack_api import BANK, lookup


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


async def test_traversal_urls_answer_404_and_reach_nothing(stack, http):
    member = await stack.seed_member(shopped_hours_ago=5)
    found = await lookup(http, stack, member)
    ban, auth = found["billing_account_number"], {"Authorization": f"Bearer {found['lookup_token']}"}
    async with http.get(f"{stack.gateway_url}/api/v1/payments/{uuid.uuid4()}", headers=auth) as r:
        unknown = (r.status, await r.json())
    assert unknown[0] == 404
    for tail in (f"..%2Faccounts%2F{ban}%2Fowed", f"..%2Faccounts%2F{ban}%2Fautopay", "..%2Fmetrics",
                 f"..%2F..%2Faccounts%2F{ban}%2Fowed", "%2E%2E%2Fmetrics"):
        url = URL(f"{stack.gateway_url}/api/v1/payments/{tail}", encoded=True)
        for headers in (auth, {}):
            async with http.get(url, headers=headers) as r:
                assert (r.status, await r.json()) == unknown, (tail, headers)


async def test_a_payment_typed_in_arabic_indic_digits_is_refused_and_not_stored(stack, http):
    member = await stack.seed_member(shopped_hours_ago=5)
    found = await lookup(http, stack, member)
    ban, auth = found["billing_account_number"], {"Authorization": f"Bearer {found['lookup_token']}"}
    contact = {"email": member["email"], "email_confirmation": member["email"], "phone": member["phone"]}
    for method in ({**BANK, "routing_number": "٠١١٠٠٠٠١٥", "routing_number_confirmation": "٠١١٠٠٠٠١٥"},
                   {**BANK, "account_number": "１２３４５６７８９", "account_number_confirmation": "１２３４５６７８９"}):
        body = {"billing_account_number": ban, "kind": "one_time", "amount": "12.34", "method": method,
                "contact": contact}
        async with http.post(f"{stack.gateway_url}/api/v1/payments", json=body,
                             headers={"Idempotency-Key": str(uuid.uuid4()), **auth}) as r:
            answer = await r.json()
            assert r.status == 422 and answer["error"]["code"] == "invalid_input", answer
    async with http.get(f"{stack.gateway_url}/api/v1/billing-accounts/{ban}/payments", headers=auth) as r:
        assert r.status == 200 and (await r.json())["payments"] == []


async def test_no_service_names_its_server_software(stack, http):
    for base in (stack.gateway_url, stack.identity_url, stack.billing_url, stack.payments_url,
                 stack.notify_url):
        for path in ("/healthz", "/no-such-path"):
            async with http.get(base + path) as r:
                server = r.headers.get("Server", "")
                assert "python" not in server.lower() and "aiohttp" not in server.lower(), (base, path, server)
