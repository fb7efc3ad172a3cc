"""END-TO-END: a payment made on a member's behalf (45 CFR 156.1250) through the public API
against the real running stack: recorded with its payer, a receipt to the member naming who
paid and one to the payer's own address, and the member's history says who paid."""
from __future__ import annotations

import asyncio
import uuid

from services.gateway import schemas as s
from tests.gateway.test_stack_api import BANK, lookup


async def _pay(http, stack, auth: dict, body: dict) -> tuple[int, dict]:
    for _ in range(60):  # payments learns of a new account from billing, through Kafka
        async with http.post(f"{stack.gateway_url}/api/v1/payments", json=body,
                             headers={"Idempotency-Key": str(uuid.uuid4()), **auth}) as r:
            answer = await r.json()
            if r.status != 404:
                return r.status, answer
        await asyncio.sleep(0.5)
    return r.status, answer


async def test_a_representatives_payment_is_receipted_to_both_and_shows_who_paid(stack, http):
    member = await stack.seed_member(shopped_hours_ago=5)
    found = await lookup(http, stack, member)
    ban, auth = found["billing_account_number"], {"Authorization": f"Bearer {found['lookup_token']}"}
    contact = {"email": member["email"], "email_confirmation": member["email"], "phone": member["phone"]}
    payer_email = f"rep-{uuid.uuid4().hex[:8]}@example.org"
    body = {"billing_account_number": ban, "kind": "one_time", "amount": "20.00", "method": BANK,
            "contact": contact,
            "payer": {"kind": "representative", "name": "Jordan Rivera", "email": payer_email}}
    status, paid = await _pay(http, stack, auth, body)
    assert status == 201, paid

    # The member's receipt names who paid.
    mine = await stack.wait_for_email(member["email"], "We received your payment", timeout_s=60)
    assert paid["confirmation_number"] in mine["subject"]
    assert "Paid by Authorized representative: Jordan Rivera" in mine["text"]
    # The payer's own receipt, at the payer's address: last four digits only, no SSN.
    theirs = await stack.wait_for_email(payer_email, "on behalf of a member", timeout_s=60)
    assert "Hello Jordan Rivera," in theirs["text"]
    assert "checking account ending in 6789" in theirs["text"]
    assert f"billing account ending in {ban[-4:]}" in theirs["text"]
    for part in ("subject", "text", "html"):
        text = theirs.get(part) or ""
        assert BANK["account_number"] not in text and ban not in text
        assert member["ssn"] not in text and member["ssn"].replace("-", "") not in text
        assert member["first_name"] not in text
    assert len(await stack.emails_to(payer_email)) == 1  # one receipt, nothing else

    # The history (payments' record through the gateway) says who paid; the email is not shown.
    async with http.get(f"{stack.gateway_url}/api/v1/billing-accounts/{ban}/payments", headers=auth) as r:
        assert r.status == 200
        history = s.PaymentHistory.model_validate(await r.json())
    shown = next(p for p in history.payments if p.payment_id == paid["payment_id"])
    assert shown.payer is not None
    assert (shown.payer.kind, shown.payer.name) == ("representative", "Jordan Rivera")
    assert payer_email not in str(await _raw_history(http, stack, ban, auth))


async def _raw_history(http, stack, ban: str, auth: dict) -> dict:
    async with http.get(f"{stack.gateway_url}/api/v1/billing-accounts/{ban}/payments", headers=auth) as r:
        return await r.json()


async def test_a_ryan_white_payment_without_an_email_names_the_program_to_the_member(stack, http):
    member = await stack.seed_member(shopped_hours_ago=5, language="es")
    found = await lookup(http, stack, member)
    ban, auth = found["billing_account_number"], {"Authorization": f"Bearer {found['lookup_token']}"}
    contact = {"email": member["email"], "email_confirmation": member["email"], "phone": member["phone"],
               "language": "es"}
    body = {"billing_account_number": ban, "kind": "one_time", "amount": "15.00", "method": BANK,
            "contact": contact, "payer": {"kind": "ryan_white", "name": "Boston Health Care"}}
    status, paid = await _pay(http, stack, auth, body)
    assert status == 201, paid
    mine = await stack.wait_for_email(member["email"], "Recibimos su pago", timeout_s=60)
    assert "Pagado por Programa Ryan White: Boston Health Care" in mine["text"]


async def test_the_gateway_refuses_an_unknown_payer_or_a_third_party_without_a_name(stack, http):
    member = await stack.seed_member(shopped_hours_ago=5)
    found = await lookup(http, stack, member)
    ban, auth = found["billing_account_number"], {"Authorization": f"Bearer {found['lookup_token']}"}
    contact = {"email": member["email"], "email_confirmation": member["email"]}
    base = {"billing_account_number": ban, "kind": "one_time", "amount": "10.00", "method": BANK,
            "contact": contact}
    for payer, field in (({"kind": "cousin", "name": "X"}, "payer.kind"),
                         ({"kind": "tribe"}, "payer.name"), ({"kind": "tribe", "name": "   "}, "payer.name"),
                         ({"kind": "tribe", "name": "T", "recurring": True}, "payer.kind")):
        kind = "recurring" if payer.pop("recurring", False) else "one_time"  # drafts are the member's
        async with http.post(f"{stack.gateway_url}/api/v1/payments",
                             json={**base, "kind": kind, "payer": payer},
                             headers={"Idempotency-Key": str(uuid.uuid4()), **auth}) as r:
            answer = await r.json()
            assert r.status == 422, answer
            assert field in answer["error"]["fields"], answer
    async with http.get(f"{stack.gateway_url}/api/v1/billing-accounts/{ban}/payments", headers=auth) as r:
        assert (await r.json())["payments"] == []  # nothing was taken
    async with http.get(f"{stack.gateway_url}/api/openapi.json") as r:  # the API's reference
        schemas = (await r.json())["components"]["schemas"]
    assert schemas["Payer"]["properties"]["kind"]["enum"] == list(s.PAYER_KINDS)
    assert "payer" in schemas["PaymentRequest"]["properties"]
