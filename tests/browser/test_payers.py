"""Browser tests of "Who is paying?" (45 CFR 156.1250) against the real running stack: quick
pay by a Ryan White program (its name required, shown at review, both receipts sent), and
the member's own pay page in Spanish by a representative, whose payment history then says
who paid. Every page passes axe-core."""
from __future__ import annotations

import uuid

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import check_page, choose
from tests.browser.test_money import log_in
from tests.browser.test_portal import fill_bank, identify, wait_for_mail

pytestmark = pytest.mark.browser


async def to_step4(page: Page, member: dict) -> None:
    await identify(page, member, "enrollment_id")
    await page.fill("#email", member["email"])
    await page.fill("#email-confirmation", member["email"])
    await page.fill("#phone", member["phone"])
    await page.click("#continue")
    await expect(page.locator("h1")).to_contain_text("Step 4")


async def test_quick_pay_by_a_ryan_white_program_names_it_and_sends_it_a_receipt(page, stack):
    member = await stack.seed_member(shopped_hours_ago=5)
    payer_email = f"rw-{uuid.uuid4().hex[:8]}@example.org"
    await to_step4(page, member)
    await expect(page.locator("#payer-kind-member")).to_be_checked()  # the member by default
    await choose(page, "payer-kind-ryan-white")
    await fill_bank(page)
    await page.click("#continue")
    await expect(page.locator("#payer-name-error")).to_contain_text("Enter the name of who is paying")
    await expect(page.locator("#error-summary")).to_contain_text("Payer's name")
    await expect(page.locator("#payer-kind-ryan-white")).to_be_checked()  # the choice is kept
    await check_page(page, "payer-name-missing")
    await page.fill("#payer-name", "Boston Health Care")
    await page.fill("#payer-email", payer_email)
    await fill_bank(page)
    await page.click("#continue")
    await expect(page.locator("h1")).to_contain_text("Review your payment")
    await expect(page.locator("#review-payer")).to_have_text("Ryan White HIV/AIDS program: Boston Health Care")
    await check_page(page, "payer-review")
    await page.click("#submit-payment")
    await expect(page.locator("h1")).to_contain_text("Payment received")
    number = (await page.locator("#confirmation-number").inner_text()).strip()
    receipt = await wait_for_mail(stack, member["email"], number)
    assert "Paid by Ryan White program: Boston Health Care" in receipt["text"]
    theirs = await wait_for_mail(stack, payer_email, number)
    assert "on behalf of a member" in theirs["subject"] and "Hello Boston Health Care," in theirs["text"]


async def test_a_representative_pays_from_the_spanish_member_page_and_the_history_says_so(page, stack):
    member = await stack.seed_member(shopped_hours_ago=5, language="es")
    ban = member["billing_account_number"]
    await log_in(page, stack, member, "es", 1280)
    await page.goto(f"/accounts/{ban}/pay?lang=es")
    await expect(page.locator("#payer-kind legend")).to_have_text("¿Quién paga?")
    await check_page(page, "pay-es")
    await choose(page, "amount-choice-other")
    await page.fill("#other-amount", "12.00")
    await choose(page, "payer-kind-representative")
    await page.fill("#payer-name", "Jordan Rivera")
    await fill_bank(page)
    await page.click("#submit-payment")
    await expect(page.locator("h1")).to_contain_text("Pago recibido")
    await check_page(page, "paid-es")
    await page.goto(f"/accounts/{ban}/history?lang=es")
    row = page.locator("#payment-history tbody tr").first
    await expect(row.locator(".portal-paid-by")).to_have_text("Un representante autorizado: Jordan Rivera")
    await check_page(page, "history-es")
