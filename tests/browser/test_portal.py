"""Browser tests of the portal against the real running stack (identity, billing, payments,
notify, the sandboxes and the gateway as separate processes; CAPTCHA off as for automated
acceptance runs). Each visited page passes axe-core and is saved as a screenshot."""
from __future__ import annotations

import asyncio
import time

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import check_page, choose

pytestmark = pytest.mark.browser
ROUTING = "011000015"


def dob(member: dict) -> str:
    value = member["date_of_birth"]
    return value if isinstance(value, str) else value.isoformat()


async def identify(page: Page, member: dict, id_type: str, *, ssn_again: str | None = None,
                   date_of_birth: str | None = None) -> None:
    await page.goto("/quick-pay")
    await check_page(page, "step1-2")
    await choose(page, f"plan-type-{member.get('plan_type', 'health')}")
    await choose(page, "id-type-" + id_type.replace("_", "-"))
    if id_type == "ssn":
        await page.fill("#ssn", member["ssn"])
        await page.fill("#ssn-confirmation", ssn_again or member["ssn"])
    elif id_type == "enrollment_id":
        await page.fill("#enrollment-id", member["enrollment_id"])
    else:
        await page.fill("#billing-account-number", member["billing_account_number"])
    await page.fill("#first-name", member["first_name"])
    await page.fill("#last-name", member["last_name"])
    await page.fill("#date-of-birth", date_of_birth or dob(member))
    await page.click("#continue")


async def wait_for_mail(stack, address: str, needle: str, timeout_s: float = 45) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for message in await stack.emails_to(address):
            if needle in message.get("text", "") or needle in message.get("html", "") \
                    or needle in message.get("subject", ""):
                return message
        await asyncio.sleep(0.5)
    raise AssertionError(f"no email to {address} mentioning {needle}")


async def fill_bank(page: Page, account: str = "123456789") -> None:
    await page.fill("#account-holder-name", "Pat Tester")
    await page.fill("#routing-number", ROUTING)
    await page.fill("#routing-number-confirmation", ROUTING)
    await page.fill("#account-number", account)
    await page.fill("#account-number-confirmation", account)


@pytest.mark.parametrize("id_type", ["enrollment_id", "ssn", "billing_account_number"])
async def test_quick_pay_by_each_id_type_ends_in_a_confirmation_and_an_email(page, stack, id_type):
    member = await stack.seed_member(shopped_hours_ago=5)
    await identify(page, member, id_type)
    await expect(page.locator("h1")).to_contain_text("Step 3")
    await check_page(page, "step3-contact")
    await page.fill("#email", member["email"])
    await page.fill("#email-confirmation", member["email"])
    await page.fill("#phone", member["phone"])
    await page.click("#continue")
    await expect(page.locator("h1")).to_contain_text("Step 4")
    await expect(page.locator("#total-balance")).to_contain_text("$")
    await expect(page.locator(".portal-line")).not_to_have_count(0)
    await check_page(page, "step4-billing")
    if id_type == "billing_account_number":  # the other runs pay the total owed
        await choose(page, "amount-choice-other")
        await page.fill("#other-amount", "25.00")
    await fill_bank(page)
    await page.click("#continue")
    await expect(page.locator("h1")).to_contain_text("Review your payment")
    await expect(page.locator("#captcha-image")).to_have_count(0)  # CAPTCHA off for acceptance runs
    if id_type == "billing_account_number":
        await expect(page.locator("#review-amount")).to_have_text("$25.00")
    await check_page(page, "review")
    await page.click("#submit-payment")
    await expect(page.locator("h1")).to_contain_text("Payment received")
    number = (await page.locator("#confirmation-number").inner_text()).strip()
    assert number
    await check_page(page, "confirmation")
    await wait_for_mail(stack, member["email"], number)


async def test_wrong_date_of_birth_says_not_found_with_the_help_line(page, stack):
    member = await stack.seed_member(shopped_hours_ago=5)
    await identify(page, member, "enrollment_id", date_of_birth="1901-01-01")
    problem = page.locator("#lookup-problem")
    await expect(problem).to_contain_text("name and date of birth must match")
    await expect(problem).to_contain_text("1-877-623-6765")
    await expect(page.locator("#first-name")).to_have_value(member["first_name"])
    await check_page(page, "not-found")


async def test_ssn_copies_that_differ_are_caught_next_to_the_field(page, stack):
    member = await stack.seed_member(shopped_hours_ago=5)
    wrong = member["ssn"][:-1] + str((int(member["ssn"][-1]) + 1) % 10)
    await identify(page, member, "ssn", ssn_again=wrong)
    await expect(page.locator("#ssn-confirmation-error")).to_contain_text("not the same")
    await expect(page.locator("#ssn")).to_have_value("")  # a secret is never typed back
    await expect(page.locator("#error-summary")).to_be_focused()
    await check_page(page, "ssn-mismatch")


async def test_a_plan_shopped_an_hour_ago_cannot_be_paid_yet(page, stack):
    member = await stack.seed_member(shopped_hours_ago=1)
    await identify(page, member, "enrollment_id")
    problem = page.locator("#lookup-problem")
    await expect(problem).to_contain_text("less than 4 hours ago")
    await expect(problem).to_contain_text("1-877-623-6765")
    await check_page(page, "not-yet-payable")


async def test_register_log_in_set_up_and_cancel_autopay(page, stack):
    member = await stack.seed_member(shopped_hours_ago=5)
    username = f"user{member['enrollment_id'][-6:]}"
    password = "Correct-Horse-Battery-42"
    await page.goto("/register")
    await check_page(page, "register")
    await choose(page, "plan-type-health")
    await choose(page, "id-type-enrollment-id")
    await page.fill("#enrollment-id", member["enrollment_id"])
    await page.fill("#first-name", member["first_name"])
    await page.fill("#last-name", member["last_name"])
    await page.fill("#date-of-birth", dob(member))
    await page.fill("#email", member["email"])
    await page.fill("#phone", member["phone"])
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.fill("#password-confirmation", password)
    await page.click("#register")
    await expect(page.locator("h1")).to_contain_text("Log in")
    await check_page(page, "registered")
    await page.fill("#username", username)
    await page.fill("#password", "not-the-password-1")
    await page.click("#login")
    await expect(page.locator("#error-summary")).to_contain_text("not right")
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("#login")
    ban = member["billing_account_number"]
    account = page.locator(f"section[data-ban='{ban}']")
    await expect(account).to_contain_text("$")
    await expect(account.locator(".portal-autopay-status")).to_contain_text("Off")
    await check_page(page, "dashboard")
    await page.goto(f"/accounts/{ban}/autopay")
    await check_page(page, "autopay-none")
    await choose(page, "method-type-savings")
    await fill_bank(page, "5550001234")
    await page.click("#save-autopay")
    await expect(page.locator("#autopay-status")).to_contain_text("Automatic payments are on")
    await check_page(page, "autopay-on")
    await page.goto("/dashboard")
    await expect(account.locator(".portal-autopay-status")).to_contain_text("On")
    await page.goto(f"/accounts/{ban}/autopay")
    await page.click("#cancel-autopay")
    await expect(page.locator("h1")).to_contain_text("Cancel automatic payments?")
    await page.click("#confirm-cancel")
    await expect(page.locator("#autopay-status")).to_contain_text("Automatic payments are off")
    await check_page(page, "autopay-cancelled")
    for path, name in ((f"/accounts/{ban}/history", "history"), (f"/accounts/{ban}/pay", "pay"),
                       ("/payment-methods", "methods"), ("/profile", "profile")):
        await page.goto(path)
        await expect(page.locator("h1")).not_to_contain_text("Something went wrong")
        await check_page(page, name)
        if name == "history":  # a statement comes from billing through the gateway
            async with page.expect_response(lambda r: "/statements/" in r.url) as statement:
                await page.locator("#statements a").first.click()
            assert (await statement.value).status == 200
            await page.go_back()
    await page.click("text=Log out")
    await expect(page.locator("a[href='/login']").first).to_be_visible()


async def test_spanish_portal(page, stack):
    member = await stack.seed_member(shopped_hours_ago=5)
    await page.goto("/quick-pay?lang=es")
    await expect(page.locator("html")).to_have_attribute("lang", "es")
    await expect(page.locator("h1")).to_contain_text("Pago rápido")
    await check_page(page, "quick-pay-es")
    await choose(page, "plan-type-health")
    await choose(page, "id-type-enrollment-id")
    await page.fill("#enrollment-id", member["enrollment_id"])
    await page.fill("#first-name", member["first_name"])
    await page.fill("#last-name", member["last_name"])
    await page.fill("#date-of-birth", "1901-01-01")
    await page.click("#continue")
    await expect(page.locator("#lookup-problem")).to_contain_text("1-877-623-6765")
    await expect(page.locator("#lookup-problem")).to_contain_text("fecha de nacimiento")
    await check_page(page, "not-found-es")
    await page.click("#language-switch")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await page.goto("/login?lang=es")
    await expect(page.locator("h1")).to_contain_text("Iniciar sesión")
    await check_page(page, "login-es")


@pytest.mark.parametrize("path", ["/", "/login", "/register", "/forgot-password", "/forgot-username",
                                  "/reset-password?token=x", "/no-such-page", "/api/docs"])
async def test_public_pages_pass_axe(page, stack, path):
    await page.goto(path)
    await check_page(page, path.strip("/").split("?")[0].replace("/", "-") or "home")


async def register_by_api(stack, member: dict, username: str, password: str) -> None:
    import aiohttp
    body = {"plan_type": "health", "id_type": "enrollment_id", "id_value": member["enrollment_id"],
            "first_name": member["first_name"], "last_name": member["last_name"],
            "date_of_birth": dob(member), "username": username, "email": member["email"],
            "password": password}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{stack.gateway_url}/api/v1/members", json=body) as r:
            assert r.status == 201, await r.text()


async def test_forgot_password_email_link_sets_a_new_password(page, stack):
    member = await stack.seed_member(shopped_hours_ago=5)
    username = f"reset{member['enrollment_id'][-6:]}"
    await register_by_api(stack, member, username, "Old-Password-Long-7")
    await page.goto("/login")
    await page.click("text=Forgot password?")
    await check_page(page, "forgot-password")
    await page.fill("#username", username)
    await page.click("button[type=submit] >> text=Send")
    await expect(page.locator(".usa-alert--success")).to_contain_text("If we found your account")
    message = await wait_for_mail(stack, member["email"], "reset-password?token=")
    text = message.get("text", "") + message.get("html", "")
    link = text[text.index("/reset-password?token="):].split()[0].split('"')[0].split("<")[0]
    await page.goto(link)
    await check_page(page, "reset-password")
    await page.fill("#new-password", "New-Password-Long-8")
    await page.fill("#password-confirmation", "New-Password-Long-8")
    await page.click("button[type=submit] >> text=Change password")
    await expect(page.locator(".usa-alert--success")).to_contain_text("password was changed")
    await page.fill("#username", username)
    await page.fill("#password", "New-Password-Long-8")
    await page.click("#login")
    await expect(page.locator("h1")).to_contain_text("Welcome")


async def test_repeated_wrong_passwords_say_when_to_try_again(page, stack):
    member = await stack.seed_member(shopped_hours_ago=5)
    username = f"lock{member['enrollment_id'][-6:]}"
    await register_by_api(stack, member, username, "Right-Password-Long-9")
    await page.goto("/login")
    for _ in range(8):
        await page.fill("#username", username)
        await page.fill("#password", "Wrong-Password-Long-0")
        await page.click("#login")
        if await page.locator("#retry-at").count():
            break
    await expect(page.locator("#error-summary")).to_contain_text("Log-ins are paused")
    await expect(page.locator("#retry-at")).to_contain_text(" ET")
    await expect(page.locator("#retry-at")).to_contain_text("1-877-623-6765")
    await check_page(page, "throttled")


@pytest.mark.parametrize("lang,width", [("en", 1280), ("es", 375)])
async def test_quick_pay_shows_payments_on_their_way_and_refuses_more_than_is_left_at_step_4(page, stack, lang, width):
    """A payment already on its way shows at Step 4 with its expected withdrawal date and
    what is left to pay; an amount over what is left is refused at Step 4 (no review, the
    entries kept); "$1.25" is reviewed as $1.25, and the review page holds no bank number."""
    import aiohttp

    from tests.gateway.test_stack_api import BANK, lookup
    member = await stack.seed_member(shopped_hours_ago=5, premium_cents=9_900)
    async with aiohttp.ClientSession() as http:
        found = await lookup(http, stack, member)
        body = {"billing_account_number": found["billing_account_number"], "kind": "one_time",
                "amount": "40.50", "method": BANK,
                "contact": {"email": member["email"], "email_confirmation": member["email"], "phone": member["phone"]}}
        for _ in range(60):  # payments learns of a new account from billing, through Kafka
            async with http.post(f"{stack.gateway_url}/api/v1/payments", json=body,
                                 headers={"Idempotency-Key": str(time.time_ns()),
                                          "Authorization": f"Bearer {found['lookup_token']}"}) as r:
                first = await r.json()
                if r.status != 404:
                    break
            await asyncio.sleep(0.5)
        assert r.status == 201, first
    await page.set_viewport_size({"width": width, "height": 800})
    await page.goto(f"/?lang={lang}")
    await identify(page, member, "enrollment_id")
    await page.fill("#email", member["email"])
    await page.fill("#email-confirmation", member["email"])
    await page.fill("#phone", member["phone"])
    await expect(page.locator("#back")).to_have_attribute("href", "/quick-pay")
    await page.click("#continue")
    await expect(page.locator("#back")).to_have_attribute("href", "/quick-pay/contact")
    withdrawal = first["expected_withdrawal_date"]
    from services.gateway.entrypoints.pages import long_date
    pending_text = {"en": f"Payment of $40.50 pending, expected to be withdrawn {long_date(withdrawal, 'en')}",
                    "es": f"Pago de $40.50 pendiente, se retirará previsiblemente el {long_date(withdrawal, 'es')}"}
    await expect(page.locator(".portal-pending-payment")).to_have_text(pending_text[lang])
    await expect(page.locator("#total-balance")).to_have_text("$99.00")
    await expect(page.locator("#due-now")).to_have_text("$58.50")
    await expect(page.locator("label[for='amount-choice-total']")).to_contain_text("$58.50")
    await check_page(page, "step4-pending")
    await choose(page, "amount-choice-other")
    await page.fill("#other-amount", "1,000.00")
    await fill_bank(page)
    await page.click("#continue")
    error = {"en": "Enter no more than $58.50", "es": "Escriba como máximo $58.50"}[lang]
    await expect(page.locator("#other-amount-error")).to_contain_text(error)
    await expect(page.locator("#other-amount")).to_have_value("1,000.00")
    await expect(page.locator("#account-holder-name")).to_have_value("Pat Tester")
    await expect(page.locator("#review-amount")).to_have_count(0)
    await check_page(page, "step4-over-limit")
    await page.fill("#other-amount", "$1.25")
    await fill_bank(page)
    await page.click("#continue")
    await expect(page.locator("#review-amount")).to_have_text("$1.25")
    hidden = await page.eval_on_selector_all("input[type=hidden]", "els => els.map(e => e.value)")
    assert not any(v in ("123456789", ROUTING) for v in hidden), hidden
    await check_page(page, "review")
    await page.click("#submit-payment")
    number = (await page.locator("#confirmation-number").inner_text()).strip()
    assert number
