"""Browser tests of what the member sees of their money on the dashboard and the payment
methods page: payments on their way, a payment the bank returned (an R01 produced through
the stack's own day jobs and bank sandbox), and removing a saved method. Each at desktop
width in English and at 375 px in Spanish; each visited page passes axe-core."""
from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from playwright.async_api import Page, expect

from services.gateway.entrypoints.pages import long_date
from shared.calendar import add_banking_days, is_banking_day
from tests.browser.conftest import check_page
from tests.browser.test_portal import register_by_api
from tests.gateway.test_stack_api import BANK, lookup

pytestmark = pytest.mark.browser
LANGUAGES = pytest.mark.parametrize("lang,width", [("en", 1280), ("es", 375)])
PASSWORD = "Correct-Horse-Battery-42"

WORDS = {
    "en": {"pending": "Payment of $40.50 pending, expected to be withdrawn {date}",
           "retrying": "Payment of $40.50 returned by your bank and being tried again, expected to be withdrawn {date}",
           "returned_title": "Your bank returned a payment",
           "returned_text": "Your bank returned your payment of $40.50 on {date}.",
           "returned_retry": "We will try it again on {date}.",
           "update_bank": "Update bank account", "pay_title": "Make a payment",
           "autopay": "Used for your automatic payments",
           "remove": "Remove checking account ending in {last4}",
           "confirm": "The checking account ending in {last4} will no longer be listed",
           "removed": "The payment method was removed.",
           "in_use": "Your automatic payments are drawn from this account, so it cannot be removed."},
    "es": {"pending": "Pago de $40.50 pendiente, se retirará previsiblemente el {date}",
           "retrying": "Pago de $40.50 devuelto por su banco que se intentará de nuevo, se retirará previsiblemente el {date}",
           "returned_title": "Su banco devolvió un pago",
           "returned_text": "Su banco devolvió su pago de $40.50 el {date}.",
           "returned_retry": "Lo intentaremos de nuevo el {date}.",
           "update_bank": "Actualizar la cuenta bancaria", "pay_title": "Hacer un pago",
           "autopay": "Se usa para sus pagos automáticos",
           "remove": "Eliminar cuenta de cheques que termina en {last4}",
           "confirm": "La cuenta de cheques que termina en {last4} ya no aparecerá aquí",
           "removed": "Se eliminó el método de pago.",
           "in_use": "Sus pagos automáticos se retiran de esta cuenta, así que no se puede eliminar."},
}


def bank(account_number: str) -> dict:
    return {**BANK, "account_number": account_number, "account_number_confirmation": account_number}


async def guest_payment(stack, member: dict, amount: str, account_number: str) -> dict:
    """A payment made through quick pay's API, once payments knows the new account."""
    async with aiohttp.ClientSession() as http:
        found = await lookup(http, stack, member)
        body = {"billing_account_number": found["billing_account_number"], "kind": "one_time",
                "amount": amount, "method": bank(account_number),
                "contact": {"email": member["email"], "email_confirmation": member["email"],
                            "phone": member["phone"]}}
        for _ in range(60):  # payments learns of a new account from billing, through Kafka
            async with http.post(f"{stack.gateway_url}/api/v1/payments", json=body,
                                 headers={"Idempotency-Key": str(uuid.uuid4()),
                                          "Authorization": f"Bearer {found['lookup_token']}"}) as r:
                answer = await r.json()
                if r.status != 404:
                    break
            await asyncio.sleep(0.5)
        assert r.status == 201, answer
        return answer


async def log_in(page: Page, stack, member: dict, lang: str, width: int) -> str:
    username = f"u{member['enrollment_id'][-7:]}"
    await register_by_api(stack, member, username, PASSWORD)
    await page.set_viewport_size({"width": width, "height": 800})
    await page.goto(f"/login?lang={lang}")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("#login")
    await expect(page.locator(f"section[data-ban='{member['billing_account_number']}']")).to_be_visible()
    return username


async def payment_status(stack, payment_id: str) -> str:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{stack.payments_url}/payments/{payment_id}",
                            headers=stack.headers("payments")) as r:
            return (await r.json())["status"]


async def bank_returns(stack, payment_id: str) -> date:
    """The business days run as operations runs them: the day's ACH cutoff (the first
    banking day from today whose file is not written yet), the bank sandbox reads the file
    (R01 for an account ending in 01), and the next banking day's return intake. Returns
    the day the return was read."""
    day = datetime.now(ZoneInfo("America/New_York")).date()
    for _ in range(30):
        if is_banking_day(day):
            await asyncio.to_thread(stack.run_cli, "payments", "ach-cutoff", "--date", day.isoformat())
            if await payment_status(stack, payment_id) == "originated":
                break
        day = add_banking_days(day, 1)
    assert await payment_status(stack, payment_id) == "originated"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{stack.sandbox_url}/bank/poll") as r:
            assert r.status == 200
    returned_on = add_banking_days(day, 1)
    await asyncio.to_thread(stack.run_cli, "payments", "returns", "--date", returned_on.isoformat())
    assert await payment_status(stack, payment_id) == "returned"
    return returned_on


@LANGUAGES
async def test_dashboard_shows_a_pending_payment_then_the_returned_payment_alert(page, stack, lang, width):
    member = await stack.seed_member(shopped_hours_ago=5, premium_cents=9_900)
    ban = member["billing_account_number"]
    paid = await guest_payment(stack, member, "40.50", f"7{uuid.uuid4().int % 10**6:06d}01")
    words = WORDS[lang]
    await log_in(page, stack, member, lang, width)
    account = page.locator(f"section[data-ban='{ban}']")
    await expect(account.locator(".portal-pending-payment")).to_have_text(
        words["pending"].format(date=long_date(paid["expected_withdrawal_date"], lang)))
    await expect(account.locator(".portal-balance")).to_have_text("$99.00")
    await expect(account.locator(".portal-due-now")).to_have_text("$58.50")
    await expect(account.locator(".portal-returned")).to_have_count(0)
    await check_page(page, "dashboard-pending")

    returned_on = await bank_returns(stack, paid["payment_id"])
    retry_on = add_banking_days(returned_on, 2)
    await page.reload()
    alert = account.locator(".portal-returned")
    await expect(alert).to_contain_text(words["returned_title"])
    await expect(alert).to_contain_text(words["returned_text"].format(date=long_date(returned_on.isoformat(), lang)))
    await expect(alert).to_contain_text(words["returned_retry"].format(date=long_date(retry_on.isoformat(), lang)))
    # The retry is on its way: shown as a retry, not as a second payment.
    await expect(account.locator(".portal-pending-payment")).to_have_text(
        words["retrying"].format(date=long_date(retry_on.isoformat(), lang)))
    await check_page(page, "dashboard-returned")
    link = alert.locator("a.portal-update-bank")
    await expect(link).to_have_text(words["update_bank"])
    await link.click()
    await expect(page.locator("h1")).to_contain_text(words["pay_title"])
    await expect(page.locator("#account-number")).to_be_visible()
    await check_page(page, "update-bank")


@LANGUAGES
async def test_a_member_removes_a_saved_method_but_not_the_one_autopay_draws_from(page, stack, lang, width):
    member = await stack.seed_member(shopped_hours_ago=5)
    ban = member["billing_account_number"]
    removable, drafted = f"6{uuid.uuid4().int % 10**5:05d}1357", f"6{uuid.uuid4().int % 10**5:05d}2468"
    await guest_payment(stack, member, "10.00", removable)
    async with aiohttp.ClientSession() as http:
        found = await lookup(http, stack, member)
        async with http.post(f"{stack.gateway_url}/api/v1/billing-accounts/{ban}/autopay",
                             json={"method": bank(drafted), "contact": {
                                 "email": member["email"], "email_confirmation": member["email"],
                                 "phone": member["phone"]}},
                             headers={"Idempotency-Key": str(uuid.uuid4()),
                                      "Authorization": f"Bearer {found['lookup_token']}"}) as r:
            assert r.status == 201, await r.text()
    words = WORDS[lang]
    await log_in(page, stack, member, lang, width)
    await page.goto("/payment-methods")
    methods = page.locator(".portal-saved-method")
    await expect(methods).to_have_count(2)
    in_use = methods.filter(has_text=drafted[-4:])
    await expect(in_use.locator(".portal-method-autopay")).to_contain_text(words["autopay"])
    await expect(in_use.locator(".portal-remove-method")).to_have_count(0)
    for secret in (removable, drafted):
        assert secret not in await page.content()
    await check_page(page, "methods")

    await page.click(f"text={words['remove'].format(last4=removable[-4:])}")
    await expect(page.locator("#remove-what")).to_contain_text(words["confirm"].format(last4=removable[-4:]))
    await check_page(page, "confirm-remove")
    await page.click("#keep-method")  # changing one's mind keeps it
    await expect(methods).to_have_count(2)
    await page.click(f"text={words['remove'].format(last4=removable[-4:])}")
    await page.click("#confirm-remove")
    await expect(page.locator("#method-removed")).to_have_text(words["removed"])
    await expect(methods).to_have_count(1)
    await expect(methods.first).to_contain_text(drafted[-4:])
    await check_page(page, "method-removed")

    # The account autopay draws from: the page says why it cannot be removed yet.
    method_id = await in_use.get_attribute("data-method-id")
    await page.goto(f"/payment-methods/{method_id}/remove")
    await expect(page.locator("#method-in-use")).to_contain_text(words["in_use"])
    await expect(page.locator("#confirm-remove")).to_have_count(0)
    await expect(page.locator("#change-autopay")).to_have_attribute("href", f"/accounts/{ban}/autopay")
    await check_page(page, "method-in-use")
