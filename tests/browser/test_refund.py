"""Browser test of a member's credit and its refund: the dashboard shows "Credit: $12.34"
(an overpayment made through the stack: the bill paid by bank account, then a mailed
check), the refund page asks for it back once, and every visited page passes axe-core.
At desktop width in English and at 375 px in Spanish."""
from __future__ import annotations

import aiohttp
import pytest
from playwright.async_api import expect

from shared.calendar import add_banking_days, business_today, is_banking_day
from tests.browser.conftest import check_page
from tests.browser.test_money import guest_payment, log_in
from tests.gateway.test_stack_refunds import paid_by_bank
from tests.helpers import wait_for

pytestmark = pytest.mark.browser
WORDS = {"en": {"credit": "Credit:", "link": "Ask for your credit back", "submit": "Ask for the refund",
                "done": "We will send you $12.34. Refund number:", "none": "There is no credit on this account to refund."},
         "es": {"credit": "Crédito:", "link": "Pedir la devolución de su crédito", "submit": "Pedir la devolución",
                "done": "Le enviaremos $12.34. Número de reembolso:", "none": "Esta cuenta no tiene crédito para devolver."}}


@pytest.mark.parametrize("lang,width", [("en", 1280), ("es", 375)])
async def test_a_member_sees_the_credit_and_asks_for_it_back(page, stack, lang, width, tmp_path):
    member = await stack.seed_member(shopped_hours_ago=5, premium_cents=25_000, language=lang)
    ban = member["billing_account_number"]
    paid = await guest_payment(stack, member, "total", "123456789")
    today = business_today()
    await paid_by_bank(stack, paid["payment_id"], today if is_banking_day(today) else add_banking_days(today, 1))
    lockbox = tmp_path / "LBX.csv"
    lockbox.write_text(
        "batch_id,item_sequence,deposit_date,billing_account_number,amount,check_number,kind,payer_name\r\n"
        f"{int(ban[1:9])},1,{today.isoformat()},{ban},12.34,4321,check,{member['first_name']} Tester\r\n",
        encoding="utf-8")
    stack.run_cli("payments", "lockbox", "import", str(lockbox))

    async def credited() -> bool:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{stack.billing_url}/accounts/{ban}", headers=stack.headers("billing")) as r:
                return (await r.json())["credit_cents"] == 1234
    await wait_for(credited, timeout_s=60, what="the check kept as credit")

    words = WORDS[lang]
    await log_in(page, stack, member, lang, width)
    section = page.locator(f"section[data-ban='{ban}']")
    await expect(section.locator(".portal-credit")).to_have_text("$12.34")
    await expect(section).to_contain_text(words["credit"])
    await check_page(page, "dashboard-credit")
    await section.get_by_role("link", name=words["link"]).click()
    await expect(page.locator("#credit")).to_have_text("$12.34")
    await check_page(page, "refund-form")
    await page.get_by_role("button", name=words["submit"]).click()
    await expect(page.locator("#refund-requested")).to_contain_text(words["done"])
    await expect(page.locator("#no-credit")).to_have_text(words["none"])  # nothing left to ask for
    await check_page(page, "refund-requested")
