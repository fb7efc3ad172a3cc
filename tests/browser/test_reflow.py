"""Every page reflows on a phone (WCAG 2.1 1.4.10): at 375 x 667 and at 320 x 568 CSS px,
in English and Spanish (and on a desktop in Spanish), the home page, each quick-pay step to
the confirmation, login, registration, forgotten password, reset, the dashboard, history, a
statement, payment methods, autopay, profile, member payment and the 404 page scroll only up
and down (document.documentElement.scrollWidth <= innerWidth), and each still passes
axe-core. The statement, its PDF, the 404 page and the guest's receipt are checked in the
visit's language."""
from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import check_page, choose
from tests.browser.test_portal import dob, fill_bank, register_by_api, wait_for_mail

pytestmark = pytest.mark.browser
PHONES = [(375, 667, "en"), (375, 667, "es"), (320, 568, "en"), (1280, 900, "es")]
WORDS = {"en": {"not_found": "Page not found", "statement": "Health premium statement",
                "back": "Back to payment history", "receipt": "We received your payment of $10.00"},
         "es": {"not_found": "Página no encontrada", "statement": "Estado de cuenta de su plan de salud",
                "back": "Volver al historial", "receipt": "Recibimos su pago de $10.00"}}


async def no_sideways_scroll(page: Page, name: str) -> None:
    """Nothing wider than the screen: the page's own width, and the element that sticks out
    (to say which one) when it is not."""
    width = await page.evaluate("""() => {
        const d = document.documentElement;
        return {scroll: d.scrollWidth, inner: window.innerWidth,
                widest: [...document.querySelectorAll('body *')]
                  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5
                               && !e.closest('.usa-sr-only, .usa-skipnav'))
                  .slice(0, 3).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
                                    + (e.className && e.className.baseVal === undefined
                                       ? '.' + String(e.className).trim().split(/\\s+/).join('.') : '')
                                    + ' ' + Math.round(e.getBoundingClientRect().right))};
    }""")
    assert width["scroll"] <= width["inner"], f"{name}: {width}"
    await check_page(page, name)


@pytest.fixture
async def phone(browser, stack, request):
    width, height, lang = request.param
    context = await browser.new_context(base_url=stack.gateway_url, bypass_csp=True,
                                        viewport={"width": width, "height": height},
                                        has_touch=True)
    page = await context.new_page()
    page.test_name = re.sub(r"[^A-Za-z0-9_-]+", "_", request.node.name)
    page.step = 0
    page.lang = lang
    await page.goto(f"/?lang={lang}")   # the language is remembered for the visit
    yield page
    await context.close()


@pytest.mark.parametrize("phone", PHONES, indirect=True, ids=lambda p: f"{p[0]}px-{p[2]}")
async def test_every_page_reflows_on_a_phone(phone, stack):
    page = phone
    member = await stack.seed_member(shopped_hours_ago=5)
    ban = member["billing_account_number"]
    await no_sideways_scroll(page, "home")

    # Quick pay, every step.
    await page.goto("/quick-pay")
    await no_sideways_scroll(page, "quick-pay-identify")
    await choose(page, "plan-type-health")
    await choose(page, "id-type-enrollment-id")
    await page.fill("#enrollment-id", member["enrollment_id"])
    await page.fill("#first-name", member["first_name"])
    await page.fill("#last-name", member["last_name"])
    await page.fill("#date-of-birth", "1901-01-01")
    await page.click("#continue")
    await expect(page.locator("#lookup-problem")).to_be_visible()
    await no_sideways_scroll(page, "quick-pay-not-found")
    await page.fill("#date-of-birth", dob(member))
    await page.click("#continue")
    await expect(page.locator("#email")).to_be_visible()
    await no_sideways_scroll(page, "quick-pay-contact")
    await page.fill("#email", member["email"])
    await page.fill("#email-confirmation", member["email"])
    await page.fill("#phone", member["phone"])
    await page.click("#continue")
    await expect(page.locator("#total-balance")).to_contain_text("$")
    await no_sideways_scroll(page, "quick-pay-billing")
    await choose(page, "amount-choice-other")
    await page.fill("#other-amount", "10.00")
    await fill_bank(page)
    await page.click("#continue")
    await expect(page.locator("#review-amount")).to_be_visible()
    await no_sideways_scroll(page, "quick-pay-review")
    await page.click("#submit-payment")
    await expect(page.locator("#confirmation-number")).to_be_visible()
    await no_sideways_scroll(page, "quick-pay-confirmation")
    # The receipt is written in the language the guest paid in (the enrollment said English).
    number = (await page.locator("#confirmation-number").inner_text()).strip()
    receipt = await wait_for_mail(stack, member["email"], number)
    assert receipt["subject"].startswith(WORDS[page.lang]["receipt"]), receipt["subject"]

    # Pages anyone can open.
    for path, name in (("/login", "login"), ("/register", "register"),
                       ("/forgot-password", "forgot-password"), ("/forgot-username", "forgot-username"),
                       ("/reset-password?token=not-a-real-token", "reset-link-unknown"),
                       ("/no-such-page", "not-found-page"), (f"/accounts/{ban}/statements/2026-13", "login-first")):
        await page.goto(path)
        await no_sideways_scroll(page, name)

    # A member's pages.
    username = f"phone{member['enrollment_id'][-7:]}"
    password = "Phone-Reflow-Password-3"
    await register_by_api(stack, member, username, password)
    await page.goto("/login")
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("#login")
    await expect(page.locator(f"section[data-ban='{ban}']")).to_be_visible()
    await no_sideways_scroll(page, "dashboard")
    month = (await page.evaluate("() => new Date().toISOString().slice(0, 7)"))
    for path, name in ((f"/accounts/{ban}/history", "history"),
                       (f"/accounts/{ban}/statements/{month}", "statement"),
                       (f"/accounts/{ban}/statements/2026-13", "statement-no-such-month"),
                       ("/payment-methods", "payment-methods"), (f"/accounts/{ban}/autopay", "autopay"),
                       (f"/accounts/{ban}/pay", "pay"), ("/profile", "profile")):
        await page.goto(path)
        await no_sideways_scroll(page, name)
    words = WORDS[page.lang]
    await page.goto(f"/accounts/{ban}/statements/2026-13")
    await expect(page.locator("h1")).to_have_text(words["not_found"])
    await page.goto(f"/accounts/{ban}/statements/{month}")
    await expect(page.locator("h1")).to_contain_text(words["statement"])
    await expect(page.locator("#statement-back")).to_contain_text(words["back"])
    await expect(page.locator("#statement-activity")).to_be_visible()
    await expect(page.locator("#statement-activity")).not_to_contain_text("$-")
    async with page.expect_download() as download:
        await page.click("#statement-pdf")
    pdf = await (await download.value).path()
    with open(pdf, "rb") as f:
        assert f.read(4) == b"%PDF"
    await page.goto("/no-such-page")
    await expect(page.locator("h1")).to_have_text(words["not_found"])
