"""END-TO-END: a credit and its refund through the whole running stack (tests/stack.py:
every service and sandbox as processes, real Kafka and PostgreSQL). A member pays the bill
by bank account, a mailed check pays $12.34 more; the member sees "Credit: $12.34" in the
API and on the portal, asks for it back, and the day's refund file carries it as a
checking credit (22) that an independent NACHA parser reads back."""
from __future__ import annotations

import asyncio
import uuid
from datetime import date
from pathlib import Path

import aiohttp
from ach.parser import Parser

from shared.calendar import add_banking_days, business_today, is_banking_day
from tests.gateway.test_stack_api import BANK, member_session, pay_when_payments_knows
from tests.helpers import wait_for


async def _status(stack, payment_id: str) -> str:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{stack.payments_url}/payments/{payment_id}",
                            headers=stack.headers("payments")) as r:
            return (await r.json())["status"]


async def paid_by_bank(stack, payment_id: str, day: date) -> None:
    """The day jobs as operations runs them: the first banking day from `day` whose debit
    file is not written yet carries the payment; it settles on its effective date."""
    for _ in range(30):
        await asyncio.to_thread(stack.run_cli, "payments", "ach-cutoff", "--date", day.isoformat())
        if await _status(stack, payment_id) == "originated":
            break
        day = add_banking_days(day, 1)
    await asyncio.to_thread(stack.run_cli, "payments", "settle", "--date", add_banking_days(day, 3).isoformat())
    assert await _status(stack, payment_id) == "settled"


async def refund_file_with(stack, ban: str, day: date) -> tuple[dict, list[dict], list[dict]]:
    """The refund file that carries the account's refund, as operations runs the day job:
    the file of `day`, or, when the scheduler already made that day's file at the cutoff
    hour before the refund was asked for, the next banking day's."""
    first = day
    for _ in range(3):
        out = await asyncio.to_thread(stack.run_cli, "payments", "refunds", "run", "--date", day.isoformat())
        name = f"PAYMENTS_{day:%Y%m%d}_R.ach"
        if name in out:
            parsed = Parser((Path(stack.state_dir) / "ach" / "outbound" / name).read_text()).as_dict()
            entries = [e["entry_detail"] for b in parsed["batches"] for e in b["entries"]]
            mine = [e for e in entries if e["ind_id"].strip() == ban]  # other members' refunds share a file
            if mine:
                return parsed, entries, mine
        day = add_banking_days(day, 1)
    raise AssertionError(f"no refund file from {first} on carries {ban}'s refund")


async def test_an_overpayment_is_a_credit_the_member_sees_and_gets_back(stack, tmp_path):
    member = await stack.seed_member(shopped_hours_ago=5, premium_cents=25_000)
    ban = member["billing_account_number"]
    http, csrf = await member_session(stack, member)
    async with http:
        contact = {"email": member["email"], "email_confirmation": member["email"], "phone": member["phone"]}
        paid = await pay_when_payments_knows(http, stack, {"billing_account_number": ban, "kind": "one_time",
                                                           "amount": "total", "method": BANK,
                                                           "contact": contact}, csrf)
        today = business_today()
        day = today if is_banking_day(today) else add_banking_days(today, 1)
        await paid_by_bank(stack, paid["payment_id"], day)
        lockbox = tmp_path / "LBX.csv"
        lockbox.write_text(
            "batch_id,item_sequence,deposit_date,billing_account_number,amount,check_number,kind,payer_name\r\n"
            f"{int(ban[1:9])},1,{today.isoformat()},{ban},12.34,4321,check,{member['first_name']} Tester\r\n",
            encoding="utf-8")
        await asyncio.to_thread(stack.run_cli, "payments", "lockbox", "import", str(lockbox))

        async def summary() -> dict:
            async with http.get(f"{stack.gateway_url}/api/v1/billing-accounts/{ban}") as r:
                return await r.json()

        async def credit_is(amount: str) -> bool:
            return (await summary()).get("credit") == amount
        await wait_for(lambda: credit_is("12.34"), timeout_s=60, what="the credit in the gateway's answer")
        for lang, words in (("en", "Credit:"), ("es", "Crédito:")):
            async with http.get(f"{stack.gateway_url}/dashboard?lang={lang}") as r:
                page = await r.text()
            assert f'{words} <strong class="portal-credit">$12.34</strong>' in page

        key = {"Idempotency-Key": str(uuid.uuid4()), **csrf}
        url = f"{stack.gateway_url}/api/v1/billing-accounts/{ban}/refunds"

        # Asked for as soon as the gateway shows the credit: payments learns of it from
        # billing's balance.changed a moment later, and the gateway waits for that.
        async with http.post(url, json={"amount": "credit"}, headers=key) as r:
            refund = await r.json()
            assert r.status == 201, refund
        async with http.post(url, json={"amount": "credit"}, headers=key) as r:
            assert r.status == 200 and (await r.json())["refund_id"] == refund["refund_id"]
        # Nothing left: a cent more is refused as over the credit, at once.
        async with http.post(url, json={"amount": "0.01"},
                             headers={**key, "Idempotency-Key": str(uuid.uuid4())}) as r:
            error = (await r.json())["error"]
            assert r.status == 409 and error["code"] == "refund_over_credit" and error["available_cents"] == 0
        # Back to the bank account that paid (a check cannot be refunded electronically).
        assert (refund["amount"], refund["status"], refund["method"]["type"]) == ("12.34", "approved", "checking")

        parsed, entries, mine = await refund_file_with(stack, ban, day)
        assert [(e["transaction_code"], int(e["amount"])) for e in mine] == [("22", 1234)]
        assert int(parsed["file_control"]["credit_amount"]) == sum(int(e["amount"]) for e in entries)
        await wait_for(lambda: credit_is("0.00"), timeout_s=60, what="the credit down to nothing")
        await stack.wait_for_email(member["email"], "refund sent", timeout_s=60)
