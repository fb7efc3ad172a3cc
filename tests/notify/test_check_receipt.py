"""A check or money order received (payments' `lockbox` channel): one receipt, naming the
check by its number, in the household's language; its settlement asks for nothing more."""
from __future__ import annotations

import asyncio
import uuid

import pytest

from services.notify.adapters.templates import Renderer
from services.notify.domain.messages import intent_for
from shared.contracts.registry import read
from tests.notify.events import Household, event
from tests.notify.test_messages import setup_household


def lockbox_events(h: Household, confirmation: str, method: dict) -> list:
    """What payments publishes for a check deposited on 2026-11-30: submitted, then settled."""
    pay = {"payment_id": str(uuid.uuid4()), "confirmation_number": confirmation,
           "billing_account_number": h.ban, "amount_cents": 31000,
           "allocations": [{"coverage_year": 2027, "amount_cents": 31000}], "method": method,
           "contact": {"email": None, "phone": None, "language": "en"}}
    return [event("payment.submitted", h.ban, {
                **pay, "plan_type": "health", "kind": "one_time", "mandate_id": None,
                "expected_withdrawal_date": "2026-11-30", "channel": "lockbox", "attempt": 1,
                "retry_of": None}),
            event("payment.settled", h.ban, {**pay, "settled_on": "2026-11-30", "kind": "one_time"})]


def test_a_check_is_one_receipt_named_by_its_number():
    data = {"payment_id": "p-1", "billing_account_number": "7000000013",
            "confirmation_number": "PMT-1", "amount_cents": 31000, "plan_type": "health",
            "kind": "one_time", "channel": "lockbox", "allocations": [],
            "method": {"type": "check", "last4": "1234"}, "expected_withdrawal_date": "2026-11-30",
            "mandate_id": None, "contact": {"email": None, "phone": None, "language": "en"}}
    intent = intent_for(read("payment.submitted", data))
    assert intent is not None and intent.template == "check_received"
    assert intent.contact is None and intent.facts["deposit_date"] == "2026-11-30"
    settled = {k: data[k] for k in ("payment_id", "confirmation_number", "billing_account_number",
                                    "amount_cents", "allocations", "method", "contact", "kind")}
    assert intent_for(read("payment.settled", {**settled, "settled_on": "2026-11-30"})) is None
    # Bank accounts and cards are unchanged.
    assert intent_for(read("payment.settled", {**settled, "settled_on": "2026-11-30",
                                               "method": {"type": "checking", "last4": "0001"}})
                      ).template == "payment_settled"
    ctx = {**intent.facts, "first_name": None, "ban_last4": "0013", "portal_url": "https://p",
           "support_phone": "1"}
    en, es = (Renderer().render("check_received", lang, ctx) for lang in ("en", "es"))
    assert en.subject == "We received your check #1234 for $310.00 (confirmation PMT-1)"
    assert "Deposited: November 30, 2026" in en.text and "check #1234" in en.sms
    assert es.subject == "Recibimos su cheque n.º 1234 de $310.00 (confirmación PMT-1)"
    order = Renderer().render("check_received", "es", {
        **ctx, "method": {"type": "money_order", "last4": "0077"}})
    assert "giro postal n.º 0077" in order.text


@pytest.mark.parametrize("language, words", [
    ("en", ["We received your check #1234 for $310.00", "Deposited: November 30, 2026"]),
    ("es", ["Recibimos su cheque n.º 1234 de $310.00", "Depositado: 30 de noviembre de 2026"])])
async def test_a_check_received_is_one_email_in_the_households_language(notify_env, language, words):
    env = notify_env
    h = await setup_household(env, language)
    conf = f"PMT-{h.tag.upper()}"
    await env.publish(*lockbox_events(h, conf, {"type": "check", "last4": "1234"}))
    [receipt] = await env.wait_for_emails(h.email, 1)
    assert receipt["subject"].startswith(words[0]) and words[1] in receipt["text"]
    assert h.first_name in receipt["text"] and h.ban not in receipt["text"]
    await asyncio.sleep(1.0)
    assert len(env.mail.to(h.email)) == 1  # the settlement sent nothing more
