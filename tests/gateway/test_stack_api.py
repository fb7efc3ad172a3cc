"""END-TO-END API tests: the public JSON API against the real running stack (tests/stack.py:
every service, the sandboxes and the gateway as processes, real Kafka and PostgreSQL,
CAPTCHA off). Members are seeded through enrollment.v1, as the exchange would."""
from __future__ import annotations

import asyncio
import uuid
from datetime import date

import aiohttp

from services.billing.domain.rules import add_months, first_of_month
from services.gateway import schemas as s
from shared.calendar import business_today
from tests.helpers import wait_for

BANK = {"type": "checking", "account_holder_name": "Pat Tester", "account_number": "123456789",
        "account_number_confirmation": "123456789", "routing_number": "011000015",
        "routing_number_confirmation": "011000015"}


def lookup_body(member: dict, id_type: str = "enrollment_id") -> dict:
    value = {"enrollment_id": member["enrollment_id"], "ssn": member["ssn"],
             "billing_account_number": member.get("billing_account_number")}[id_type]
    dob = member["date_of_birth"]
    return {"plan_type": member["plan_type"], "id_type": id_type, "id_value": value,
            "id_value_confirmation": value if id_type == "ssn" else None,
            "first_name": member["first_name"], "last_name": member["last_name"],
            "date_of_birth": dob if isinstance(dob, str) else dob.isoformat()}


async def lookup(http, stack, member, id_type="enrollment_id") -> dict:
    async with http.post(f"{stack.gateway_url}/api/v1/lookups", json=lookup_body(member, id_type)) as r:
        assert r.status == 201, await r.text()
        return await r.json()


async def test_lookup_account_and_one_payment_per_idempotency_key(stack, http):
    member = await stack.seed_member(shopped_hours_ago=5)
    found = await lookup(http, stack, member, "ssn")
    ban = found["billing_account_number"]
    assert ban == member["billing_account_number"] and found["lines"]
    auth = {"Authorization": f"Bearer {found['lookup_token']}"}
    async with http.get(f"{stack.gateway_url}/api/v1/billing-accounts/{ban}", headers=auth) as r:
        summary = await r.json()
        assert r.status == 200 and summary["notices"] == [] and summary["total_balance"] is not None
        s.AccountSummary.model_validate(summary)
    body = {"billing_account_number": ban, "kind": "one_time", "amount": "12.34", "method": BANK,
            "contact": {"email": member["email"], "email_confirmation": member["email"], "phone": member["phone"]}}
    key = {"Idempotency-Key": str(uuid.uuid4()), **auth}
    async with http.post(f"{stack.gateway_url}/api/v1/payments", json=body, headers=key) as r:
        first = await r.json()
        assert r.status == 201, first
    async with http.post(f"{stack.gateway_url}/api/v1/payments", json=body, headers=key) as r:
        again = await r.json()
    assert first["amount"] == "12.34" and first["confirmation_number"]
    assert again["payment_id"] == first["payment_id"]
    assert again["confirmation_number"] == first["confirmation_number"]
    async with http.get(f"{stack.gateway_url}/api/v1/billing-accounts/{ban}/payments", headers=auth) as r:
        history = (await r.json())["payments"]
    assert [p["payment_id"] for p in history].count(first["payment_id"]) == 1
    async with http.get(f"{stack.gateway_url}/api/v1/payments/{first['payment_id']}", headers=auth) as r:
        assert r.status == 200
        assert s.PaymentView.model_validate(await r.json()).amount == "12.34"


async def test_a_lookup_token_cannot_read_another_account(stack, http):
    mine, theirs = await stack.seed_member(), await stack.seed_member()
    token = (await lookup(http, stack, mine))["lookup_token"]
    async with http.get(f"{stack.gateway_url}/api/v1/billing-accounts/{theirs['billing_account_number']}",
                        headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status == 403 and (await r.json())["error"]["code"] == "forbidden"


async def test_lookup_errors_from_the_real_identity_service(stack, http):
    member = await stack.seed_member(shopped_hours_ago=5)
    wrong = {**lookup_body(member), "date_of_birth": "1901-01-01"}
    async with http.post(f"{stack.gateway_url}/api/v1/lookups", json=wrong) as r:
        assert r.status == 404 and (await r.json())["error"]["code"] == "not_found"
    recent = await stack.seed_member(shopped_hours_ago=1)
    async with http.post(f"{stack.gateway_url}/api/v1/lookups", json=lookup_body(recent)) as r:
        body = await r.json()
        assert r.status == 409 and body["error"]["code"] == "not_yet_payable" and body["error"]["payable_at"]


async def test_with_billing_stopped_the_account_page_answers_with_a_notice(stack, http):
    member = await stack.seed_member(shopped_hours_ago=5)
    found = await lookup(http, stack, member)
    ban = found["billing_account_number"]
    stack.stack.stop_one("billing")
    try:
        # The gateway's copy of the account is set aside within a second of billing
        # stopping (its health probe), from then on the page says what is missing.
        async def answer_with_notice() -> dict | None:
            async with http.get(f"{stack.gateway_url}/api/v1/billing-accounts/{ban}",
                                headers={"Authorization": f"Bearer {found['lookup_token']}"}) as r:
                assert r.status == 200
                body = await r.json()
                return body if body["notices"] else None
        body = await wait_for(answer_with_notice, timeout_s=10, what="the billing notice")
        assert [n["service"] for n in body["notices"]] == ["billing"]
        assert "not available" in body["notices"][0]["message"]
    finally:
        stack.stack.restart("billing")
        await stack.stack.wait_ready(timeout_s=60, names=("billing",))


async def test_the_account_page_follows_autopay_set_up_and_cancelled_at_once(stack, http):
    """The gateway keeps a copy of each account summary; what the member changes through it
    shows on the very next read (nothing stale from the copy)."""
    member = await stack.seed_member(shopped_hours_ago=5)
    found = await lookup(http, stack, member)
    ban, auth = found["billing_account_number"], {"Authorization": f"Bearer {found['lookup_token']}"}
    account = f"{stack.gateway_url}/api/v1/billing-accounts/{ban}"

    async def autopay() -> dict | None:
        async with http.get(account, headers=auth) as r:
            assert r.status == 200
            body = await r.json()
            assert body["notices"] == []
            return body["autopay"]
    async def payments_knows_the_account() -> bool:  # its projection, from account.opened
        async with http.get(f"{stack.payments_url}/accounts/{ban}/owed",
                            headers=stack.headers("payments")) as r:
            return r.status == 200
    await wait_for(payments_knows_the_account, timeout_s=30, what="payments to know the account")
    assert await autopay() is None
    assert await autopay() is None  # read twice: the second from the gateway's copy
    contact = {"email": member["email"], "email_confirmation": member["email"], "phone": member["phone"]}
    async with http.post(f"{account}/autopay", json={"method": BANK, "contact": contact},
                         headers={**auth, "Idempotency-Key": str(uuid.uuid4())}) as r:
        assert r.status == 201, await r.text()
    shown = await autopay()
    assert shown is not None and shown["status"] == "active" and shown["method"]["last4"] == "6789"
    async with http.delete(f"{account}/autopay", headers=auth) as r:
        assert r.status == 200, await r.text()
    assert await autopay() is None


async def test_payments_in_flight_show_on_the_account_and_the_reviewed_total_is_the_one_charged(stack, http):
    """Two partial payments on their way: the account says what is pending (and when it is
    expected to be withdrawn) and what is left; a payment up to what is left is accepted;
    a "total" reviewed before the last payment is refused (409, nothing charged) with the
    figure now, and the figure now is what is charged."""
    member = await stack.seed_member(shopped_hours_ago=5, premium_cents=9_900)
    found = await lookup(http, stack, member)
    ban, auth = found["billing_account_number"], {"Authorization": f"Bearer {found['lookup_token']}"}
    assert (found["total_balance"], found["pending_total"], found["amount_due_now"]) == ("99.00", "0.00", "99.00")
    account_url = f"{stack.gateway_url}/api/v1/billing-accounts/{ban}"
    contact = {"email": member["email"], "email_confirmation": member["email"], "phone": member["phone"]}

    async def pay(amount: str, **extra) -> tuple[int, dict]:
        body = {"billing_account_number": ban, "kind": "one_time", "amount": amount, "method": BANK,
                "contact": contact, **extra}
        async with http.post(f"{stack.gateway_url}/api/v1/payments", json=body,
                             headers={"Idempotency-Key": str(uuid.uuid4()), **auth}) as r:
            return r.status, await r.json()

    async def account() -> dict:
        async with http.get(account_url, headers=auth) as r:
            assert r.status == 200
            return s.AccountSummary.model_validate(await r.json()).model_dump()

    first = await pay("40.50")
    second = await pay("58.25")
    assert first[0] == second[0] == 201 and (first[1]["amount"], second[1]["amount"]) == ("40.50", "58.25")
    summary = await account()
    assert summary["total_balance"] == "99.00"  # billing shows a payment once it settles
    assert summary["pending_total"] == "98.75" and summary["amount_due_now"] == "0.25"
    pending = {p["payment_id"]: p for p in summary["pending_payments"]}
    assert pending[second[1]["payment_id"]]["amount"] == "58.25"
    assert pending[second[1]["payment_id"]]["expected_withdrawal_date"] == second[1]["expected_withdrawal_date"]

    # The lookup answer carries the same figures.
    again = await lookup(http, stack, member)
    assert (again["pending_total"], again["amount_due_now"]) == ("98.75", "0.25")

    # "total" reviewed as $99.00 (before the payments): refused, nothing charged.
    status, refused = await pay("total", expected_amount="99.00")
    assert status == 409 and refused["error"]["code"] == "amount_changed"
    assert refused["error"]["current_amount"] == "0.25"
    assert (await account())["pending_total"] == "98.75"
    async with http.get(f"{account_url}/payments", headers=auth) as r:
        assert len((await r.json())["payments"]) == 2

    # The figure now, reviewed, is charged: every 201 carries its amount.
    status, last = await pay("total", expected_amount="0.25")
    assert status == 201 and last["amount"] == "0.25"
    summary = await account()
    assert (summary["pending_total"], summary["amount_due_now"]) == ("99.00", "0.00")


async def test_a_payment_up_to_what_is_left_is_accepted_and_more_is_refused(stack, http):
    member = await stack.seed_member(shopped_hours_ago=5, premium_cents=9_900)
    found = await lookup(http, stack, member)
    ban, auth = found["billing_account_number"], {"Authorization": f"Bearer {found['lookup_token']}"}
    contact = {"email": member["email"], "email_confirmation": member["email"], "phone": member["phone"]}

    async def pay(amount: str) -> tuple[int, dict]:
        body = {"billing_account_number": ban, "kind": "one_time", "amount": amount, "method": BANK,
                "contact": contact}
        async with http.post(f"{stack.gateway_url}/api/v1/payments", json=body,
                             headers={"Idempotency-Key": str(uuid.uuid4()), **auth}) as r:
            return r.status, await r.json()

    assert (await pay("97.75"))[0] == 201
    status, ok = await pay("1.25")
    assert status == 201 and ok["amount"] == "1.25"
    status, refused = await pay("0.01")
    assert status == 422 and "at most 0.00" in refused["error"]["fields"]["amount"]


async def member_session(stack, member: dict) -> tuple[aiohttp.ClientSession, dict]:
    """A registered, logged-in member: their cookie-keeping session and the headers a
    change made with it carries (the CSRF token)."""
    password = "Correct-Horse-Battery-42"
    username = f"m{member['enrollment_id'][-7:]}"
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    body = {**{k: v for k, v in lookup_body(member).items() if k != "id_value_confirmation"},
            "username": username, "email": member["email"], "password": password}
    async with http.post(f"{stack.gateway_url}/api/v1/members", json=body) as r:
        assert r.status == 201, await r.text()
    async with http.post(f"{stack.gateway_url}/api/v1/sessions",
                         json={"username": username, "password": password}) as r:
        assert r.status == 200, await r.text()
        csrf = (await r.json())["csrf_token"]
    return http, {"X-CSRF-Token": csrf}


async def pay_when_payments_knows(http, stack, body: dict, headers: dict) -> dict:
    """A payment, once payments has learnt of the new account (from billing, through Kafka)."""
    for _ in range(60):
        async with http.post(f"{stack.gateway_url}/api/v1/payments", json=body,
                             headers={"Idempotency-Key": str(uuid.uuid4()), **headers}) as r:
            answer = await r.json()
            if r.status != 404:
                assert r.status == 201, answer
                return answer
        await asyncio.sleep(0.5)
    raise AssertionError(f"payments never knew the account: {answer}")


async def test_a_member_removes_a_saved_method_but_not_the_one_autopay_draws_from(stack):
    member = await stack.seed_member(shopped_hours_ago=5)
    ban = member["billing_account_number"]
    http, csrf = await member_session(stack, member)
    async with http:
        contact = {"email": member["email"], "email_confirmation": member["email"], "phone": member["phone"]}
        other = {**BANK, "account_number": "987650011", "account_number_confirmation": "987650011"}
        await pay_when_payments_knows(http, stack, {"billing_account_number": ban, "kind": "one_time",
                                                    "amount": "10.00", "method": other,
                                                    "contact": contact}, csrf)
        async with http.post(f"{stack.gateway_url}/api/v1/billing-accounts/{ban}/autopay",
                             json={"method": BANK, "contact": contact},
                             headers={"Idempotency-Key": str(uuid.uuid4()), **csrf}) as r:
            assert r.status == 201, await r.text()

        async def methods() -> dict[str, dict]:
            async with http.get(f"{stack.gateway_url}/api/v1/me") as r:
                me = s.Me.model_validate(await r.json())
            [account] = [a for a in me.accounts if a.billing_account_number == ban]
            return {m["last4"]: m for m in account.methods}

        saved = await methods()
        assert set(saved) == {"0011", BANK["account_number"][-4:]}
        drafted = saved[BANK["account_number"][-4:]]
        assert drafted["autopay"] is True and saved["0011"]["autopay"] is False
        url = f"{stack.gateway_url}/api/v1/me/methods"
        async with http.delete(f"{url}/{drafted['method_id']}") as r:  # no CSRF token
            assert r.status == 403
        async with http.delete(f"{url}/{drafted['method_id']}", headers=csrf) as r:
            refused = await r.json()
            assert r.status == 409 and refused["error"]["code"] == "method_in_use"
            assert "Change your automatic payments to another account or cancel them" in refused["error"]["message"]
        async with http.delete(f"{url}/{saved['0011']['method_id']}", headers=csrf) as r:
            removed = s.MethodRemoved.model_validate(await r.json())
            assert r.status == 200
        assert (removed.status, removed.method_id, removed.billing_account_number) == (
            "removed", saved["0011"]["method_id"], ban)
        assert set(await methods()) == {BANK["account_number"][-4:]}
        async with http.delete(f"{url}/{saved['0011']['method_id']}", headers=csrf) as r:
            assert r.status == 404 and (await r.json())["error"]["code"] == "no_method"
        async with http.get(f"{stack.gateway_url}/api/openapi.json") as r:
            op = (await r.json())["paths"]["/api/v1/me/methods/{method_id}"]["delete"]
        assert {"200", "404", "409"} <= set(op["responses"])

    # Another member cannot remove it.
    stranger, stranger_csrf = await member_session(stack, await stack.seed_member(shopped_hours_ago=5))
    async with stranger:
        async with stranger.delete(f"{url}/{drafted['method_id']}", headers=stranger_csrf) as r:
            assert r.status == 404


async def test_a_changed_autopay_bank_account_is_confirmed_by_email(stack, http):
    """In the member's language (Spanish here), naming the new account's last four digits
    and the next draft date, never a full number."""
    member = await stack.seed_member(shopped_hours_ago=5, language="es")
    found = await lookup(http, stack, member)
    ban, auth = found["billing_account_number"], {"Authorization": f"Bearer {found['lookup_token']}"}
    contact = {"email": member["email"], "email_confirmation": member["email"], "phone": member["phone"]}
    account = f"{stack.gateway_url}/api/v1/billing-accounts/{ban}"
    for _ in range(60):  # payments learns of a new account from billing, through Kafka
        async with http.post(f"{account}/autopay", json={"method": BANK, "contact": contact},
                             headers={"Idempotency-Key": str(uuid.uuid4()), **auth}) as r:
            if r.status != 404:
                break
        await asyncio.sleep(0.5)
    assert r.status == 201, await r.text()
    new_number = "4455667788"
    new = {**BANK, "type": "savings", "account_number": new_number, "account_number_confirmation": new_number}
    async with http.put(f"{account}/autopay/method", json={"method": new}, headers=auth) as r:
        mandate = s.Mandate.model_validate(await r.json())
        assert r.status == 200
    from services.gateway.entrypoints.pages import long_date
    message = await stack.wait_for_email(member["email"], "cuenta de ahorros que termina en 7788", timeout_s=60)
    assert "Cuenta nueva: cuenta de ahorros que termina en 7788" in message["text"]
    assert f"Próximo retiro: {long_date(mandate.next_draft_date, 'es')}" in message["text"]
    for part in ("subject", "text", "html"):
        assert new_number not in message.get(part, "") and BANK["account_number"] not in message.get(part, "")


async def test_a_mailed_check_pays_the_oldest_month_and_shows_as_check_in_history(stack, tmp_path):
    """The lockbox bank's file through the whole stack: payments records the check (once,
    however often the file is imported), billing applies it to the oldest unpaid month,
    and the member's history reads "Check #1234"."""
    today = business_today()
    this_month = first_of_month(today)
    # Coverage in force since January (no binder); last month's and this month's bills,
    # made by the cycles of the two months before: two months unpaid. (In January the
    # first cycle bills last December, which this year's coverage does not include.)
    member = await stack.seed_member(shopped_hours_ago=5, premium_cents=31_000,
                                     coverage_start=date(today.year, 1, 1))
    ban = member["billing_account_number"]
    for months_back in (2, 1):
        cycle_day = add_months(this_month, -months_back).replace(day=5)
        await asyncio.to_thread(stack.run_cli, "billing", "invoice-cycle", "--date", cycle_day.isoformat())

    async def invoices() -> list[dict]:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{stack.billing_url}/accounts/{ban}/invoices",
                                headers=stack.headers("billing")) as r:
                return sorted((await r.json())["invoices"], key=lambda i: i["coverage_month"])

    assert [i["status"] for i in await invoices()] == ["open", "open"]
    lockbox_file = tmp_path / "LBX.csv"
    lockbox_file.write_text(
        "batch_id,item_sequence,deposit_date,billing_account_number,amount,check_number,kind,payer_name\r\n"
        f"{int(ban[1:9])},1,{today.isoformat()},{ban},310.00,1234,check,{member['first_name']} Tester\r\n",
        encoding="utf-8")
    out = await asyncio.to_thread(stack.run_cli, "payments", "lockbox", "import", str(lockbox_file))
    assert "1 applied" in out
    again = await asyncio.to_thread(stack.run_cli, "payments", "lockbox", "import", str(lockbox_file))
    assert "already imported" in again

    async def oldest_paid() -> list[dict] | None:
        found = await invoices()
        return found if found[0]["status"] == "paid" else None
    first, second = await wait_for(oldest_paid, timeout_s=60, what="the check applied by billing")
    assert first["coverage_month"] == add_months(this_month, -1).strftime("%Y-%m")
    assert second["status"] == "open"

    http, _ = await member_session(stack, member)
    async with http:
        async with http.get(f"{stack.gateway_url}/api/v1/billing-accounts/{ban}/payments") as r:
            [payment] = (await r.json())["payments"]
        assert payment["method"] == {"type": "check", "last4": "1234"} and payment["amount"] == "310.00"
        async with http.get(f"{stack.gateway_url}/accounts/{ban}/history?lang=en") as r:
            page = await r.text()
        assert "Check #1234" in page and payment["confirmation_number"] in page
    await stack.wait_for_email(member["email"], "check #1234")
