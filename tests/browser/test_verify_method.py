"""Browser test of a bank account's micro-entry verification: the member sees the link on
Payment methods, enters two amounts that are not the ones sent (refused, a try spent),
then the right ones in the other order, and the account is verified; every page passes
axe-core. At desktop width in English and at 375 px in Spanish.

The stack runs without account validation (the other stack tests pay straight away), so
the test records the micro-entries the cutoff would have sent for the saved account, in
the payments database, as that cutoff records them."""
from __future__ import annotations

import uuid

import aiohttp
import asyncpg
import pytest
from playwright.async_api import expect

from shared.calendar import business_today
from tests.browser.conftest import check_page
from tests.browser.test_money import guest_payment, log_in

pytestmark = pytest.mark.browser
WORDS = {"en": {"link": "Verify this account: enter the two deposit amounts", "tries": "Tries left: 3",
                "wrong": "These are not the amounts we sent", "left": "Tries left: 2",
                "button": "Verify my account", "done": "Your bank account is verified"},
         "es": {"link": "Verifique esta cuenta: ingrese los montos de los dos depósitos",
                "tries": "Intentos restantes: 3", "wrong": "Estos no son los montos que enviamos",
                "left": "Intentos restantes: 2", "button": "Verificar mi cuenta",
                "done": "Su cuenta bancaria está verificada"}}


async def _micro_entries_sent(stack, ban: str) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{stack.payments_url}/accounts/{ban}/methods",
                            headers=stack.headers("payments")) as r:
            [method] = (await r.json())["methods"]
    conn = await asyncpg.connect(stack.stack.config.dsn_of["payments"])
    try:
        await conn.execute(
            """INSERT INTO account_validations (validation_id, method_id, billing_account_number,
                   kind, status, requested_on, effective_date, trace_numbers, micro_cents)
               VALUES (gen_random_uuid(), $1, $2, 'micro_entries', 'sent', $3, $3,
                       ARRAY['011000010000001', '011000010000002', '011000010000003'], '{7,42}')""",
            uuid.UUID(method["method_id"]), ban, business_today())
    finally:
        await conn.close()


@pytest.mark.parametrize("lang,width", [("en", 1280), ("es", 375)])
async def test_a_member_verifies_a_bank_account_by_the_two_deposits(page, stack, lang, width):
    member = await stack.seed_member(shopped_hours_ago=5, premium_cents=21_000, language=lang)
    ban = member["billing_account_number"]
    await guest_payment(stack, member, "total", "123456789")
    await _micro_entries_sent(stack, ban)
    words = WORDS[lang]
    await log_in(page, stack, member, lang, width)
    await page.goto(f"/payment-methods?lang={lang}")
    await check_page(page, "methods-to-verify")
    await page.get_by_role("link", name=words["link"]).click()
    await expect(page.locator("#verify-tries")).to_contain_text(words["tries"])
    await check_page(page, "verify-form")
    await page.fill("#amount-1", "0.08")
    await page.fill("#amount-2", "0.42")
    await page.get_by_role("button", name=words["button"]).click()
    await expect(page.locator(".usa-alert--error").first).to_contain_text(words["wrong"])
    await expect(page.locator("#verify-tries")).to_contain_text(words["left"])
    await check_page(page, "verify-wrong")
    await page.fill("#amount-1", "0.42")
    await page.fill("#amount-2", ".07")
    await page.get_by_role("button", name=words["button"]).click()
    await expect(page.locator("#verify-done")).to_contain_text(words["done"])
    await check_page(page, "verify-done")
