"""END-TO-END: a recurring payment set-up through the public API says what will happen and
what was agreed, has its own confirmation number (the email says the same), and its
cancellation says which withdrawals already made still happen; the autopay answer states
the cancellation cut-off (Regulation E)."""
from __future__ import annotations

import uuid

import pytest

from services.gateway import schemas as s
from services.payments.domain.regulation_e import cancel_window
from services.payments.domain.schedule import next_draft_date
from shared.calendar import business_today
from tests.gateway.test_stack_api import BANK, lookup


@pytest.mark.parametrize("owed", [True, False])
async def test_recurring_set_up_answers_today_every_22nd_and_its_own_number(stack, http, owed):
    member = await stack.seed_member(shopped_hours_ago=5)
    found = await lookup(http, stack, member)
    ban, auth = found["billing_account_number"], {"Authorization": f"Bearer {found['lookup_token']}"}
    first = next_draft_date(business_today()).isoformat()
    async with http.get(f"{stack.gateway_url}/api/v1/billing-accounts/{ban}/autopay/terms", headers=auth) as r:
        terms = await r.json()
        assert r.status == 200, terms
    assert terms["first_draft_date"] == first and ban in terms["authorization_text"]
    contact = {"email": member["email"], "email_confirmation": member["email"], "phone": member["phone"]}
    if owed:
        body = {"billing_account_number": ban, "kind": "recurring", "amount": "total", "method": BANK,
                "contact": contact}
        async with http.post(f"{stack.gateway_url}/api/v1/payments", json=body,
                             headers={**auth, "Idempotency-Key": str(uuid.uuid4())}) as r:
            answer = await r.json()
            assert r.status == 201, answer
        s.PaymentResponse.model_validate(answer)
        assert answer["amount"] == "250.00" and answer["confirmation_number"].startswith("PMT-")
        assert answer["expected_withdrawal_date"]
        setup = answer["autopay"]
    else:
        async with http.post(f"{stack.gateway_url}/api/v1/billing-accounts/{ban}/autopay",
                             json={"method": BANK, "contact": contact},
                             headers={**auth, "Idempotency-Key": str(uuid.uuid4())}) as r:
            setup = await r.json()
            assert r.status == 201, setup
        s.Mandate.model_validate(setup)
        setup["first_draft_date"] = setup["next_draft_date"]
        assert setup["authorization_text"].startswith(terms["authorization_text"])
    assert setup["confirmation_number"].startswith("AUT-") and setup["first_draft_date"] == first
    mail = await stack.wait_for_email(member["email"], "Automatic payments are set up", timeout_s=45)
    assert setup["confirmation_number"] in mail["text"] and "The authorization you agreed to" in mail["text"]
    async with http.get(f"{stack.gateway_url}/api/v1/billing-accounts/{ban}", headers=auth) as r:
        autopay = (await r.json())["autopay"]
    assert autopay["confirmation_number"] == setup["confirmation_number"]
    async with http.delete(f"{stack.gateway_url}/api/v1/billing-accounts/{ban}/autopay", headers=auth) as r:
        cancelled = await r.json()
        assert r.status == 200, cancelled
    s.Cancelled.model_validate(cancelled)
    # Today's withdrawal is already on its way: cancelling does not stop it, and says so.
    assert cancelled["confirmation_number"] == setup["confirmation_number"]
    assert cancelled["drafts_in_flight"] == ([{"payment_id": answer["payment_id"], "amount": "250.00",
                                               "expected_withdrawal_date": answer["expected_withdrawal_date"]}]
                                             if owed else [])


async def test_the_autopay_answer_states_the_cancellation_cut_off_and_the_notice_range(stack, http):
    """Regulation E through the public API: the account's autopay says by when a
    cancellation stops which withdrawal, and keeps the range the member chose for notices."""
    member = await stack.seed_member(shopped_hours_ago=5)
    found = await lookup(http, stack, member)
    ban, auth = found["billing_account_number"], {"Authorization": f"Bearer {found['lookup_token']}"}
    contact = {"email": member["email"], "email_confirmation": member["email"], "phone": member["phone"]}
    url = f"{stack.gateway_url}/api/v1/billing-accounts/{ban}/autopay"
    async with http.post(url, json={"method": BANK, "contact": contact,
                                    "notice_range": {"low": "400.00", "high": "200.00"}},
                         headers={**auth, "Idempotency-Key": str(uuid.uuid4())}) as r:
        refused = await r.json()
        assert r.status == 422 and "notice_range" in refused["error"]["fields"], refused
    async with http.post(url, json={"method": BANK, "contact": contact,
                                    "notice_range": {"low": "200.00", "high": "400.00"}},
                         headers={**auth, "Idempotency-Key": str(uuid.uuid4())}) as r:
        setup = await r.json()
        assert r.status == 201, setup
    async with http.get(f"{stack.gateway_url}/api/v1/billing-accounts/{ban}", headers=auth) as r:
        autopay = (await r.json())["autopay"]
    s.Mandate.model_validate(autopay)
    window = cancel_window(business_today())
    assert autopay["cancellation"] == {
        "cancel_by": window.cancel_by.isoformat(), "stops_draft_date": window.stops_draft_date.isoformat(),
        "still_drafted_on": window.still_drafted.isoformat() if window.still_drafted else None}
    assert autopay["notice_range"] == {"low": "200.00", "high": "400.00"}
