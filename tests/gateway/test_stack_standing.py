"""END-TO-END: the account's standing, its coverage clock and hardship payment plans through
the public API, against the whole running stack (billing's jobs run for business dates)."""
from __future__ import annotations

from datetime import date

import aiohttp
import pytest

from services.billing.domain.rules import add_months
from services.gateway import schemas as s
from shared.calendar import business_today
from tests.arrears import seed_past_due_member
from tests.gateway.test_stack_api import lookup


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


async def account(http, stack, ban: str, auth: dict) -> dict:
    async with http.get(f"{stack.gateway_url}/api/v1/billing-accounts/{ban}", headers=auth) as r:
        body = await r.json()
        assert r.status == 200, body
    s.AccountSummary.model_validate(body)
    return body


async def test_a_plan_never_billed_says_no_bill_yet_not_paid(stack, http):
    # Coverage taken over from the exchange's records, in force, with nothing billed yet.
    member = await stack.seed_member(coverage_start=date(business_today().year - 1, 1, 1))
    found = await lookup(http, stack, member)
    body = await account(http, stack, found["billing_account_number"],
                         {"Authorization": f"Bearer {found['lookup_token']}"})
    assert body["status"] == "no_bill_yet" and body["total_balance"] == "0.00"
    assert body["coverage"]["paid_through"] is None


async def test_a_new_enrollment_says_pay_the_binder_by_the_23rd_to_start(stack, http):
    member = await stack.seed_member(aptc=True)
    found = await lookup(http, stack, member)
    body = await account(http, stack, found["billing_account_number"],
                         {"Authorization": f"Bearer {found['lookup_token']}"})
    start = date.fromisoformat(body["lines"][0]["due_date"])
    assert body["status"] == "pending_binder" and start.day == 23
    c = body["coverage"]
    assert (c["keep_coverage_by"], c["amount_to_keep"]) == (start.isoformat(), "250.00")
    assert c["starts_on"] == add_months(start.replace(day=1), 1).isoformat()
    assert (c["grace_type"], c["grace_months"]) == ("aptc_3_months", 3)


@pytest.mark.parametrize("aptc", [True, False])
async def test_in_grace_the_clock_says_which_grace_until_when_and_what_then(stack, http, aptc):
    member = await seed_past_due_member(stack, aptc=aptc)
    found = await lookup(http, stack, member)
    ban, auth = found["billing_account_number"], {"Authorization": f"Bearer {found['lookup_token']}"}
    body = await account(http, stack, ban, auth)
    assert body["status"] == "in_grace"
    assert body["delinquency"]["grace_end"] == member["grace_end"].isoformat()
    c = body["coverage"]
    assert c["grace_type"] == ("aptc_3_months" if aptc else "standard_1_month")
    assert c["keep_coverage_by"] == member["grace_end"].isoformat()
    assert c["ends_if_unpaid"] == member["ends_if_unpaid"].isoformat()
    assert c["paid_through"] is None and c["amount_to_keep"] == "250.00"
    assert body["payment_plan_offer"]["eligible"] is True
    assert body["payment_plan_offer"]["past_due"] == "250.00"
    # The public OpenAPI names the new fields.
    async with http.get(f"{stack.gateway_url}/api/openapi.json") as r:
        schemas = (await r.json())["components"]["schemas"]
    assert {"paid_through", "grace_type", "keep_coverage_by"} <= set(schemas["CoverageClock"]["properties"])


async def test_a_member_in_arrears_asks_for_a_hardship_plan_and_sees_its_installments(stack, http):
    member = await seed_past_due_member(stack, aptc=True)
    found = await lookup(http, stack, member)
    ban, auth = found["billing_account_number"], {"Authorization": f"Bearer {found['lookup_token']}"}
    url = f"{stack.gateway_url}/api/v1/billing-accounts/{ban}/payment-plan"
    async with http.get(url, headers=auth) as r:
        assert r.status == 404 and (await r.json())["error"]["code"] == "no_payment_plan"
    for months in (1, 13, "٣", True):  # out of range, not ASCII digits, not a number
        async with http.post(url, json={"months": months}, headers=auth) as r:
            assert r.status == 422, (months, await r.text())
    async with http.post(url, json={"months": 2}, headers=auth) as r:
        plan = await r.json()
        assert r.status == 201, plan
    s.PaymentPlan.model_validate(plan)
    assert [i["amount"] for i in plan["schedule"]] == ["125.00", "125.00"]
    assert [i["status"] for i in plan["schedule"]] == ["due", "upcoming"]
    assert all(date.fromisoformat(i["due_date"]).day == 23 for i in plan["schedule"])
    assert plan["next_installment"]["amount"] == "125.00" and plan["status"] == "current"
    body = await account(http, stack, ban, auth)
    assert body["status"] == "payment_plan" and body["payment_plan"]["plan_id"] == plan["plan_id"]
    assert body["coverage"]["keep_coverage_by"] == plan["schedule"][0]["due_date"]
    assert body["coverage"]["amount_to_keep"] == "125.00"
    assert body["payment_plan_offer"] == {**body["payment_plan_offer"], "eligible": False,
                                          "reason": "plan_exists"}
    async with http.post(url, json={"months": 3}, headers=auth) as r:
        refused = (await r.json())["error"]
        assert r.status == 409 and (refused["code"], refused["reason"]) == ("payment_plan_refused", "plan_exists")
    async with http.get(url, headers=auth) as r:
        assert r.status == 200 and (await r.json())["plan_id"] == plan["plan_id"]


async def test_no_plan_when_nothing_is_past_due(stack, http):
    member = await stack.seed_member()
    found = await lookup(http, stack, member)
    ban, auth = found["billing_account_number"], {"Authorization": f"Bearer {found['lookup_token']}"}
    async with http.post(f"{stack.gateway_url}/api/v1/billing-accounts/{ban}/payment-plan",
                         json={"months": 3}, headers=auth) as r:
        error = (await r.json())["error"]
        assert r.status == 409 and error["reason"] == "nothing_past_due"


async def test_me_carries_each_accounts_coverage_clock(stack):
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await me_in_grace(stack, http)


async def me_in_grace(stack, http) -> None:
    member = await seed_past_due_member(stack, aptc=False)
    username, password = f"me{member['enrollment_id'][-7:]}", "Correct-Horse-Battery-42"
    dob = member["date_of_birth"].isoformat()
    body = {"plan_type": "health", "id_type": "enrollment_id", "id_value": member["enrollment_id"],
            "first_name": member["first_name"], "last_name": member["last_name"],
            "date_of_birth": dob, "username": username, "email": member["email"], "password": password}
    async with http.post(f"{stack.gateway_url}/api/v1/members", json=body) as r:
        assert r.status == 201, await r.text()
    async with http.post(f"{stack.gateway_url}/api/v1/sessions",
                         json={"username": username, "password": password}) as r:
        assert r.status == 200, await r.text()
    async with http.get(f"{stack.gateway_url}/api/v1/me") as r:
        me = await r.json()
        assert r.status == 200, me
    s.Me.model_validate(me)
    [account] = [a for a in me["accounts"] if a["billing_account_number"] == member["billing_account_number"]]
    assert account["status"] == "in_grace"
    assert (account["coverage"]["grace_type"], account["coverage"]["keep_coverage_by"]) == \
        ("standard_1_month", member["grace_end"].isoformat())
    assert account["payment_plan_offer"]["eligible"] is True


async def test_a_member_terminated_for_non_payment_sees_the_quote_and_pays_it_in_one_step(stack, http):
    import uuid
    from datetime import timedelta

    from services.billing.domain.rules import first_of_month
    from tests.gateway.test_stack_api import BANK
    member = await seed_past_due_member(stack, aptc=False)
    noticed = add_months(first_of_month(business_today()), 1)  # the day after grace ends
    stack.run_cli("billing", "delinquency", "--date", noticed.isoformat())
    found = await lookup(http, stack, member)
    ban, auth = found["billing_account_number"], {"Authorization": f"Bearer {found['lookup_token']}"}
    body = await account(http, stack, ban, auth)
    assert body["status"] == "terminated"
    r = body["reinstatement"]
    assert (r["possible"], r["amount"], r["pay_by"]) == (True, "250.00", (noticed + timedelta(days=35)).isoformat())
    assert r["plan_type"] == "health"
    assert r["restores"][0]["coverage_start"] == date(business_today().year, 1, 1).isoformat()
    contact = {"email": member["email"], "email_confirmation": member["email"], "phone": member["phone"]}
    await stack.wait_until_payments_knows(ban)

    async def pay(expected: str) -> tuple[int, dict]:
        pay_body = {"billing_account_number": ban, "kind": "one_time", "amount": "total", "method": BANK,
                    "contact": contact, "expected_amount": expected}
        async with http.post(f"{stack.gateway_url}/api/v1/payments", json=pay_body,
                             headers={"Idempotency-Key": str(uuid.uuid4()), **auth}) as resp:
            return resp.status, await resp.json()
    status, refused = await pay("249.99")  # a total the member was not shown: nothing charged
    assert status == 409 and refused["error"]["code"] == "amount_changed"
    status, paid = await pay(r["amount"])
    assert status == 201 and paid["amount"] == "250.00"
