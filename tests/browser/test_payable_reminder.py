"""Browser tests of the 4-hour rule: a member who just shopped sees, once and in ET, when
the plan can be paid, and asks to be emailed or texted then; the message arrives once, at
that time. Desktop and 375 px, English and Spanish; every page passes axe-core."""
from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone

import aiohttp
import pytest
from playwright.async_api import expect

from services.gateway.entrypoints.pages import long_datetime
from tests.browser.conftest import check_page
from tests.browser.test_portal import identify, wait_for_mail

pytestmark = pytest.mark.browser
WAIT_S = 15  # the plan becomes payable this long after the test starts


async def texts_to(stack, number: str) -> list[dict]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{stack.sandbox_url}/sms/v1/messages", params={"to": number}) as r:
            return (await r.json())["messages"]


@pytest.mark.parametrize("lang,width,channel", [("en", 1280, "email"), ("es", 375, "sms")])
async def test_not_yet_payable_shows_the_time_once_and_reminds_once_then(page, stack, lang, width, channel):
    await page.set_viewport_size({"width": width, "height": 900 if width > 400 else 667})
    member = await stack.seed_member(shopped_hours_ago=4 - WAIT_S / 3600)
    payable = datetime.now(timezone.utc) + timedelta(seconds=WAIT_S)
    await page.goto(f"/?lang={lang}")
    await identify(page, member, "enrollment_id")
    when = page.locator("#payable-at")
    await expect(when).to_contain_text(" ET")
    text = await page.locator("main").inner_text()
    assert text.count(" ET") == 1  # the time appears once
    shown = (await when.inner_text())
    # The time shown is the one the 4-hour rule gives (to the minute, in New York time).
    expected = {long_datetime((payable + timedelta(seconds=s)).isoformat(), lang) for s in (-60, 0, 60)}
    assert any(e in shown for e in expected), (shown, expected)
    await check_page(page, f"not-yet-payable-{lang}")
    await page.click(f"label[for='reminder-channel-{channel}']")
    if channel == "email":
        await page.fill("#reminder-email", member["email"])
    else:
        await page.fill("#reminder-phone", member["phone"])
    await page.click("#remind-me")
    done = page.locator("#reminder-set")
    await expect(done).to_contain_text(" ET")
    await expect(done).to_contain_text(member["phone"][-4:] if channel == "sms" else "@example.org")
    await check_page(page, f"reminder-set-{lang}")
    # Not before its time.
    assert datetime.now(timezone.utc) < payable - timedelta(seconds=3), "the test ran too slowly"
    assert not [m for m in await stack.emails_to(member["email"]) if "You can now pay" in m["subject"]]
    assert await texts_to(stack, "+1" + member["phone"]) == []
    if channel == "email":
        mail = await wait_for_mail(stack, member["email"], "You can now pay", timeout_s=WAIT_S + 30)
        assert "/quick-pay" in mail["text"]
        await asyncio.sleep(2)
        assert len([m for m in await stack.emails_to(member["email"])
                    if "You can now pay" in m["subject"]]) == 1
    else:
        number = "+1" + member["phone"]
        deadline = time.monotonic() + WAIT_S + 30
        while not await texts_to(stack, number) and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        [sms] = await texts_to(stack, number)
        assert "ya puede pagar" in sms["body"] and "/quick-pay" in sms["body"]
    assert datetime.now(timezone.utc) >= payable - timedelta(seconds=1)
