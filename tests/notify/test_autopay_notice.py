"""Regulation E's notice of a varying autopay draft (`autopay.upcoming`) as the member gets
it, in English and Spanish: the amount in dollars, the date written out, the cut-off to
cancel by; by email, and by text when the member takes texts. A set-up inside the notice
window states its first draft's most in the set-up confirmation."""
from __future__ import annotations

import pytest

from tests.notify.events import Household, event
from tests.notify.test_messages import setup_household

EXPECTED = {
    "en": {"subject": "Your automatic payment on December 22, 2026 will be $452.10",
           "text": ["Amount: $452.10", "Withdrawal date: December 22, 2026",
                    "From: checking account ending in 6789",
                    "Your previous automatic payment was $310.00.",
                    "is different from your previous automatic payment",
                    "We never withdraw more than $452.10 on December 22, 2026",
                    "Cancel by December 17, 2026 at", "to stop the December 22, 2026 withdrawal."],
           "sms": "your automatic payment of $452.10 will be withdrawn on December 22, 2026. "
                  "Cancel by December 17, 2026 to stop it."},
    "es": {"subject": "Su pago automático del 22 de diciembre de 2026 será de $452.10",
           "text": ["Monto: $452.10", "Fecha de retiro: 22 de diciembre de 2026",
                    "Desde: cuenta de cheques que termina en 6789",
                    "Su pago automático anterior fue de $310.00.",
                    "es distinto de su pago automático anterior",
                    "Nunca retiraremos más de $452.10 el 22 de diciembre de 2026",
                    "Cancele a más tardar el 17 de diciembre de 2026 en",
                    "para detener el retiro del 22 de diciembre de 2026."],
           "sms": "su pago automático de $452.10 se retirará el 22 de diciembre de 2026. "
                  "Cancele a más tardar el 17 de diciembre de 2026 para detenerlo."},
}


def upcoming(h: Household, **extra):
    return event("autopay.upcoming", h.ban, {
        "mandate_id": f"MD-{h.tag}", "billing_account_number": h.ban, "amount_cents": 45210,
        "draft_date": "2026-12-22", "previous_amount_cents": 31000, "contact": h.contact,
        "method": {"type": "checking", "last4": "6789"}, "cycle": "2026-12", "reason": "changed",
        "cancel_by": "2026-12-17", "plan_type": "health", **extra})


@pytest.mark.parametrize("language", ["en", "es"])
async def test_the_notice_of_a_varying_draft_in_the_members_language(notify_env, language):
    env = notify_env
    h = await setup_household(env, language)
    await env.publish(h.member_registered(), h.contact_changed(email_enabled=True, sms_enabled=True))
    await env.wait_for(lambda: env.pool.fetchval(
        "SELECT 1 FROM members WHERE member_id = $1 AND sms_enabled", h.member_id), what="prefs")
    await env.publish(upcoming(h))
    [mail] = await env.wait_for_emails(h.email, 1)
    want = EXPECTED[language]
    assert mail["subject"] == want["subject"]
    for fact in want["text"]:
        assert fact in mail["text"], f"{fact!r} not in\n{mail['text']}"
    assert "$452.10" in mail["html"] and f'lang="{language}"' in mail["html"]
    assert h.first_name in mail["text"] and h.ban not in mail["text"] and h.ban not in mail["html"]
    [text] = await env.wait_for(lambda: env.sms_store.to("+1" + h.phone), what="a text")
    assert want["sms"] in text["body"]


async def test_a_first_draft_notice_names_no_previous_amount(notify_env):
    env = notify_env
    h = await setup_household(env, "en")
    await env.publish(upcoming(h, previous_amount_cents=None, reason="first"))
    [mail] = await env.wait_for_emails(h.email, 1)
    assert "is your first automatic payment" in mail["text"]
    assert "previous automatic payment was" not in mail["text"]


@pytest.mark.parametrize("language,line", [
    ("en", "First withdrawal amount: no more than $310.00, the total you owe now"),
    ("es", "Monto del primer retiro: no más de $310.00, el total que usted debe ahora"),
])
async def test_a_set_up_inside_the_notice_window_states_the_first_draft(notify_env, language, line):
    env = notify_env
    h = await setup_household(env, language)
    await env.publish(event("autopay.created", h.ban, {
        "mandate_id": f"MD-{h.tag}", "billing_account_number": h.ban,
        "method": {"type": "checking", "last4": "6789"}, "next_draft_date": "2026-12-22",
        "contact": h.contact, "confirmation_number": f"AUT-{h.tag}", "first_draft_amount_cents": 31000}))
    [mail] = await env.wait_for_emails(h.email, 1)
    assert line in mail["text"] and "$310.00" in mail["html"]
