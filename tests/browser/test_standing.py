"""Browser tests: a member's dashboard tells where each account stands (binder owed, in
grace with its end and what follows, on a payment plan) with the coverage clock, and a
member in arrears asks for a hardship payment plan and sees its installments; desktop and
375 px, English and Spanish. Each page passes axe-core."""
from __future__ import annotations

from datetime import timedelta

import aiohttp
import pytest
from playwright.async_api import Page, expect

from services.billing.domain.rules import add_months, first_of_month
from services.gateway.entrypoints.pages import long_date
from shared.calendar import business_today
from tests.arrears import seed_past_due_member
from tests.browser.conftest import check_page
from tests.browser.test_portal import dob

pytestmark = pytest.mark.browser
PASSWORD = "Correct-Horse-Battery-42"


async def log_in(page: Page, stack, member: dict, lang: str) -> None:
    """Registered through the public API; logged in through the portal's page."""
    username = f"std{member['enrollment_id'][-7:]}"
    body = {"plan_type": "health", "id_type": "enrollment_id", "id_value": member["enrollment_id"],
            "first_name": member["first_name"], "last_name": member["last_name"],
            "date_of_birth": dob(member), "username": username, "email": member["email"],
            "password": PASSWORD, "language": lang}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{stack.gateway_url}/api/v1/members", json=body) as r:
            assert r.status == 201, await r.text()
    await page.goto(f"/login?lang={lang}")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("#login")
    await expect(page.locator("h1")).not_to_contain_text("Log in")


async def fits_the_screen(page: Page) -> None:
    """The parts these tests cover fit the viewport's width (no sideways scrolling for them;
    the page as a whole is checked by the reflow tests)."""
    wide = await page.evaluate(
        """() => [...document.querySelectorAll('.portal-standing, .portal-clock, .portal-plan-offer,'
                   + ' .portal-plan-standing, .portal-plan, #ask-plan, #months')]
             .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
             .map(e => e.className || e.id)""")
    assert wide == []


@pytest.mark.parametrize("lang,width", [("en", 1280), ("es", 375)])
async def test_in_grace_dashboard_shows_the_clock_and_a_plan_can_be_asked_for(page, stack, lang, width):
    await page.set_viewport_size({"width": width, "height": 900 if width > 400 else 667})
    member = await seed_past_due_member(stack, aptc=(lang == "en"), language=lang)
    await log_in(page, stack, member, lang)
    ban = member["billing_account_number"]
    account = page.locator(f"section[data-ban='{ban}']")
    standing = account.locator(".portal-standing")
    await expect(standing).to_have_attribute("data-status", "in_grace")
    grace_end = long_date(member["grace_end"].isoformat(), lang)
    ends = long_date(member["ends_if_unpaid"].isoformat(), lang)
    await expect(standing).to_contain_text(grace_end)
    await expect(standing).to_contain_text(ends)
    await expect(standing).to_contain_text("$250.00")
    await expect(account.locator(".portal-keep-by")).to_contain_text(grace_end)
    await expect(account.locator(".portal-paid-through")).to_contain_text(
        "Nothing paid yet" if lang == "en" else "Todavía no hay pagos")
    await expect(account.locator(".portal-grace-type")).to_contain_text(
        "3 months" if lang == "en" else "1 mes")
    await expect(account).to_contain_text("In grace period" if lang == "en" else "En período de gracia")
    await fits_the_screen(page)
    await check_page(page, f"dashboard-in-grace-{lang}")

    await account.locator(".portal-plan-offer a").click()
    await expect(page.locator("h1")).to_contain_text("Payment plan" if lang == "en" else "Plan de pagos")
    await check_page(page, f"plan-offer-{lang}")
    await page.select_option("#months", "2")
    await page.click("#ask-plan")
    await expect(page.locator("[role=status]")).to_contain_text(
        "Your payment plan is set up." if lang == "en" else "Su plan de pagos está listo.")
    rows = page.locator(".portal-installment")
    await expect(rows).to_have_count(2)
    await expect(rows.nth(0)).to_contain_text("$125.00")
    await expect(rows.nth(0)).to_have_attribute("data-status", "due")
    await expect(page.locator("#ask-plan")).to_have_count(0)
    await fits_the_screen(page)
    await check_page(page, f"plan-created-{lang}")

    await page.goto("/dashboard")
    await expect(standing).to_have_attribute("data-status", "payment_plan")
    await expect(standing).to_contain_text("$125.00")
    await expect(account.locator(".portal-plan-standing")).to_contain_text("$0.00")
    await expect(account).to_contain_text("On a payment plan" if lang == "en" else "Con un plan de pagos")
    await check_page(page, f"dashboard-plan-{lang}")


@pytest.mark.parametrize("lang,width", [("en", 375), ("es", 1280)])
async def test_binder_owed_says_pay_by_the_23rd_to_start_coverage(page, stack, lang, width):
    await page.set_viewport_size({"width": width, "height": 667 if width < 400 else 900})
    member = await stack.seed_member(shopped_hours_ago=5, language=lang)
    await log_in(page, stack, member, lang)
    standing = page.locator(f"section[data-ban='{member['billing_account_number']}'] .portal-standing")
    await expect(standing).to_have_attribute("data-status", "pending_binder")
    await expect(standing).to_contain_text("$250.00")
    await expect(standing).to_contain_text(" 23" if lang == "en" else "23 de")
    await expect(standing).to_contain_text("start your coverage" if lang == "en" else "su cobertura comience")
    await fits_the_screen(page)
    await check_page(page, f"dashboard-binder-{lang}")


@pytest.mark.parametrize("lang,width", [("en", 375), ("es", 1280)])
async def test_terminated_for_non_payment_shows_what_restores_the_coverage_and_pays_it(page, stack, lang, width):
    """956 CMR 12.12: after a termination for non-payment the dashboard states the amount
    that reinstates the coverage and the last day to pay it, and one button starts the
    payment of exactly that amount."""
    await page.set_viewport_size({"width": width, "height": 900 if width > 400 else 667})
    member = await seed_past_due_member(stack, aptc=False, language=lang)
    noticed = add_months(first_of_month(business_today()), 1)  # the day after grace ends
    stack.run_cli("billing", "delinquency", "--date", noticed.isoformat())
    await log_in(page, stack, member, lang)
    account = page.locator(f"section[data-ban='{member['billing_account_number']}']")
    pay_by = long_date((noticed + timedelta(days=35)).isoformat(), lang)
    quote = account.locator(".portal-reinstatement")
    await expect(quote).to_have_attribute("data-possible", "true")
    await expect(quote.locator(".portal-reinstate")).to_have_text(
        f"Pay $250.00 by {pay_by} to restore your coverage." if lang == "en"
        else f"Pague $250.00 a más tardar el {pay_by} para restablecer su cobertura.")
    await check_page(page, f"dashboard-reinstate-{lang}")
    await quote.locator(".portal-reinstate-pay").click()
    # The usual payment, the total chosen and that total the one expected: a changed
    # balance is refused, never charged.
    await expect(page.locator("input[name='expected_amount']")).to_have_value("250.00")
    await check_page(page, f"pay-reinstate-{lang}")
