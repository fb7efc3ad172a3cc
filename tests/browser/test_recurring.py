"""Browser tests: a recurring payment set-up says exactly what will happen (today's amount,
the total owed on every 22nd from the first one's date) and shows the authorization before
it is submitted; it has its own confirmation number, sent by email with the authorization;
cancelling asks first and says whether a withdrawal already made still happens, and the page
says by when a cancellation stops which withdrawal. Desktop and
375 px, English and Spanish; every page passes axe-core."""
from __future__ import annotations

import pytest
from playwright.async_api import expect

from services.gateway.entrypoints.pages import long_date
from services.payments.domain.regulation_e import cancel_window
from services.payments.domain.schedule import next_draft_date
from shared.calendar import business_today
from tests.browser.conftest import check_page, choose
from tests.browser.test_portal import fill_bank, identify, wait_for_mail
from tests.browser.test_standing import log_in

pytestmark = pytest.mark.browser


def first_draft(lang: str) -> str:
    return long_date(next_draft_date(business_today()).isoformat(), lang)


def cut_off(lang: str) -> str:
    """What the autopay page says a cancellation today stops (Regulation E's cut-off)."""
    window = cancel_window(business_today())
    cancel_by, stops = (long_date(d.isoformat(), lang) for d in (window.cancel_by, window.stops_draft_date))
    return (f"Cancel by {cancel_by} to stop the {stops} withdrawal." if lang == "en" else
            f"Cancele a más tardar el {cancel_by} para detener el retiro del {stops}.")


@pytest.mark.parametrize("lang,width", [("en", 1280), ("es", 375)])
async def test_member_sets_up_autopay_sees_terms_first_gets_its_number_and_cancels_after_confirming(
        page, stack, lang, width):
    await page.set_viewport_size({"width": width, "height": 900 if width > 400 else 667})
    member = await stack.seed_member(shopped_hours_ago=5, language=lang)
    await log_in(page, stack, member, lang)
    ban = member["billing_account_number"]
    await page.goto(f"/accounts/{ban}/autopay")
    await expect(page.locator("#recurring-today")).to_contain_text(
        "nothing is withdrawn" if lang == "en" else "no se retira nada")
    await expect(page.locator("#recurring-monthly")).to_contain_text(first_draft(lang))
    terms = page.locator("#authorization-text")
    # The terms in the page's language, and the record and the email carry the same words.
    await expect(terms).to_contain_text(
        f"billing account {ban}" if lang == "en" else f"cuenta de facturación {ban}")
    await expect(terms).to_contain_text("day 22 of each month" if lang == "en" else "el día 22 de cada mes")
    await check_page(page, f"autopay-terms-{lang}")
    await choose(page, "method-type-checking")
    await fill_bank(page, "5550001234")
    await page.click("#save-autopay")
    saved = page.locator("#autopay-saved")
    await expect(saved).to_contain_text("AUT-")
    number = (await saved.inner_text()).split("AUT-", 1)[1][:12]
    await expect(page.locator("#autopay-cut-off")).to_contain_text(cut_off(lang))
    await check_page(page, f"autopay-saved-{lang}")
    mail = await wait_for_mail(stack, member["email"], "AUT-" + number)
    assert "The authorization you agreed to" in mail["text"] or "La autorización que usted aceptó" in mail["text"]
    assert ("day 22 of each month" if lang == "en" else "Autorizo a ") in mail["text"]
    assert ban not in mail["text"]
    assert first_draft(lang) in mail["text"]

    await page.click("#cancel-autopay")
    stops = long_date(cancel_window(business_today()).stops_draft_date.isoformat(), lang)
    await expect(page.locator("#cancel-next")).to_contain_text(stops)
    await expect(page.locator("#cancel-in-flight")).to_contain_text(
        "No withdrawal is on its way" if lang == "en" else "No hay ningún retiro en camino")
    await check_page(page, f"autopay-cancel-confirm-{lang}")
    await page.click("#keep-autopay")  # changing one's mind keeps them
    await expect(page.locator("#autopay-status")).to_contain_text(
        "are on" if lang == "en" else "están activados")
    await page.click("#cancel-autopay")
    await page.click("#confirm-cancel")
    await expect(page.locator("#autopay-status")).to_contain_text("AUT-" + number)
    await check_page(page, f"autopay-cancelled-{lang}")


async def test_terms_read_on_the_spanish_page_are_the_ones_kept_and_sent(page, stack):
    """A member whose messages are in English sets up autopay on the Spanish page: the
    authorization kept and emailed is the Spanish text they read, in an English email."""
    member = await stack.seed_member(shopped_hours_ago=5, language="en")
    await log_in(page, stack, member, "en")  # registered in English
    ban = member["billing_account_number"]
    await page.goto(f"/accounts/{ban}/autopay?lang=es")
    await expect(page.locator("#authorization-text")).to_contain_text("Autorizo a ")
    await choose(page, "method-type-checking")
    await fill_bank(page, "5550004321")
    await page.click("#save-autopay")
    saved = page.locator("#autopay-saved")
    await expect(saved).to_contain_text("AUT-")
    number = (await saved.inner_text()).split("AUT-", 1)[1][:12]
    mail = await wait_for_mail(stack, member["email"], "AUT-" + number)
    assert "The authorization you agreed to" in mail["text"]
    assert "Autorizo a " in mail["text"] and "I authorize" not in mail["text"]


async def test_quick_pay_recurring_says_today_and_every_22nd_and_never_none_or_zero(page, stack):
    await page.set_viewport_size({"width": 375, "height": 667})
    member = await stack.seed_member(shopped_hours_ago=5)
    await identify(page, member, "enrollment_id")
    await page.fill("#email", member["email"])
    await page.fill("#email-confirmation", member["email"])
    await page.fill("#phone", member["phone"])
    await page.click("#continue")
    await choose(page, "kind-recurring")
    await fill_bank(page)
    await page.click("#continue")
    await expect(page.locator("#recurring-today")).to_contain_text("$250.00")
    await expect(page.locator("#recurring-today")).to_contain_text("2 to 3 banking days")
    await expect(page.locator("#recurring-monthly")).to_contain_text(first_draft("en"))
    await expect(page.locator("#authorization-text")).to_contain_text(member["billing_account_number"])
    await check_page(page, "quick-pay-recurring-review")
    await page.click("#submit-payment")
    await expect(page.locator("#confirmation-number")).to_contain_text("PMT-")
    await expect(page.locator("#autopay-confirmation-number")).to_contain_text("AUT-")
    await expect(page.locator("#first-draft-date")).to_contain_text(first_draft("en"))
    await expect(page.locator("#confirmed-amount")).to_have_text("$250.00")
    body = await page.locator("main").inner_text()
    assert "None" not in body and "$0.00" not in body
    await check_page(page, "quick-pay-recurring-confirmation")
    number = (await page.locator("#autopay-confirmation-number").inner_text()).strip()
    mail = await wait_for_mail(stack, member["email"], number)
    assert "The authorization you agreed to" in mail["text"]
