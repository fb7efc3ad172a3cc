"""GATEWAY-UNIT: a binder sent sooner to meet its due date (the next ACH file, or Same Day
ACH), as the member reads it on the confirmation pages, in English and Spanish, in front of
the fake payments service; and the API answer carrying it."""
from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.browser.conftest import browser, check_page  # noqa: F401  (Chromium, axe-core)
from tests.gateway import fakes
from tests.gateway.test_portal import BILLING, IDENTIFY, csrf_of, hidden_of, login

WORDS = {
    "en": {"same_day": "Your first payment is due December 23, 2030. So that it is on time, we send it as "
                       "Same Day ACH: it is withdrawn from your account on December 23, 2030 (ET).",
           "next_file": "So that it is on time, we send it to your bank in the next file: it is "
                        "withdrawn from your account on December 23, 2030 (ET)."},
    "es": {"same_day": "Su primer pago vence el 23 de diciembre de 2030. Para que llegue a tiempo, lo "
                       "enviamos como ACH del mismo día (Same Day ACH): se retira de su cuenta el 23 de "
                       "diciembre de 2030 (ET).",
           "next_file": "lo enviamos a su banco en el próximo archivo: se retira de su cuenta el 23 de "
                        "diciembre de 2030 (ET)."},
}


@pytest.mark.parametrize("lang", ["en", "es"])
async def test_a_member_is_told_the_binder_goes_same_day_and_when(gw_no_captcha, upstream, lang):
    gw = gw_no_captcha
    upstream.binder_deadline = {"due_date": "2030-12-23", "same_day_ach": True}
    await login(gw, upstream)
    page = await (await gw.get(f"/accounts/{fakes.BAN_A}/pay?lang={lang}")).text()
    form = {**BILLING, "csrf_token": csrf_of(page), "idempotency_key": hidden_of(page)["idempotency_key"]}
    done = await (await gw.post(f"/accounts/{fakes.BAN_A}/pay", data=form)).text()
    assert WORDS[lang]["same_day"] in done and 'id="binder-deadline"' in done
    # The next file is in time: said so, not Same Day ACH.
    upstream.binder_deadline = {"due_date": "2030-12-23", "same_day_ach": False}
    upstream.payments.clear()
    page = await (await gw.get(f"/accounts/{fakes.BAN_A}/pay?lang={lang}")).text()
    form = {**BILLING, "csrf_token": csrf_of(page), "idempotency_key": hidden_of(page)["idempotency_key"]}
    done = await (await gw.post(f"/accounts/{fakes.BAN_A}/pay", data=form)).text()
    assert WORDS[lang]["next_file"] in done and "Same Day ACH" not in done
    # A payment with nothing to move says nothing of it.
    upstream.binder_deadline = None
    upstream.payments.clear()
    page = await (await gw.get(f"/accounts/{fakes.BAN_A}/pay?lang={lang}")).text()
    form = {**BILLING, "csrf_token": csrf_of(page), "idempotency_key": hidden_of(page)["idempotency_key"]}
    done = await (await gw.post(f"/accounts/{fakes.BAN_A}/pay", data=form)).text()
    assert 'id="binder-deadline"' not in done


async def test_a_guest_is_told_too_and_the_api_answer_carries_it(gw_no_captcha, upstream):
    gw = gw_no_captcha
    upstream.binder_deadline = {"due_date": "2030-12-23", "same_day_ach": True}
    csrf = csrf_of(await (await gw.get("/quick-pay")).text())
    await gw.post("/quick-pay", data={**IDENTIFY, "csrf_token": csrf})
    await gw.post("/quick-pay/contact", data={"email": "m@example.org", "email_confirmation": "m@example.org",
                                              "phone": "(617) 555-0101", "csrf_token": csrf})
    review = await (await gw.post("/quick-pay/billing", data={**BILLING, "csrf_token": csrf})).text()
    done = await (await gw.post("/quick-pay/submit", data={**hidden_of(review), "action": "submit"})).text()
    assert "Payment received" in done and WORDS["en"]["same_day"] in done
    spec = await (await gw.get("/api/openapi.json")).json()
    answer = spec["components"]["schemas"]["PaymentResponse"]["properties"]
    assert "binder_deadline" in answer and "account_validation" in answer


@pytest.mark.browser
@pytest.mark.parametrize("lang,width", [("en", 1280), ("es", 375)])
async def test_the_binder_notice_passes_axe_in_chromium(browser, gw_no_captcha, upstream, lang, width):  # noqa: F811
    """The confirmation with the Same Day ACH notice, in real Chromium in front of the fake
    services (the whole stack cannot be moved to the days before a due date): axe-core finds
    no WCAG 2.1 AA violation, at desktop width in English and at 375 px in Spanish."""
    upstream.binder_deadline = {"due_date": "2030-12-23", "same_day_ach": True}
    upstream.users["maria.s"] = {"password": "correct horse battery", "member_id": "m-1"}
    context = await browser.new_context(base_url=str(gw_no_captcha.make_url("")).rstrip("/"),
                                        bypass_csp=True, viewport={"width": width, "height": 900})
    page = await context.new_page()
    page.test_name, page.step = f"binder_notice_{lang}_{width}", 0
    try:
        await page.goto(f"/login?lang={lang}")
        await page.fill("#username", "maria.s")
        await page.fill("#password", "correct horse battery")
        await page.click("#login")
        await page.goto(f"/accounts/{fakes.BAN_A}/pay?lang={lang}")
        for name, value in BILLING.items():
            if name not in ("amount_choice", "kind", "method_type"):
                await page.fill(f"#{name.replace('_', '-')}", value)
        await page.locator("form.usa-form button[type=submit]").last.click()
        await expect(page.locator("#binder-deadline")).to_contain_text(WORDS[lang]["same_day"])
        await check_page(page, "binder-notice")
    finally:
        await context.close()
