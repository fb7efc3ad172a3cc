"""GATEWAY-UNIT: the portal's micro-entries confirmation page (a bank account new to the
system is verified by the two small deposits the member reads on their statement), in
English and Spanish, in front of the fake payments service; and the pay page saying what
happens to a new account and when."""
from __future__ import annotations

import pytest

from tests.gateway import fakes
from tests.gateway.test_portal import BILLING, csrf_of, hidden_of, login

METHOD_ID = "0b9c6a52-0d1e-4f57-9d0c-6f2d8f0c1a11"
WORDS = {
    "en": {"link": "Verify this account: enter the two deposit amounts", "tries": "Tries left: 3",
           "wrong": "These are not the amounts we sent", "format": "Enter an amount under $1.00",
           "left2": "Tries left: 2", "done": "Your bank account is verified",
           "wait": "They arrive on December 3, 2030 (ET)", "failed": "We could not verify this bank account"},
    "es": {"link": "Verifique esta cuenta: ingrese los montos de los dos depósitos",
           "tries": "Intentos restantes: 3", "wrong": "Estos no son los montos que enviamos",
           "format": "Ingrese un monto de menos de $1.00", "left2": "Intentos restantes: 2",
           "done": "Su cuenta bancaria está verificada", "wait": "Llegan el 3 de diciembre de 2030 (ET)",
           "failed": "No pudimos verificar esta cuenta bancaria"},
}


def _saved(upstream, **validation) -> None:
    upstream.methods[fakes.BAN_A] = [{"method_id": METHOD_ID, "type": "checking", "last4": "6789",
                                      "brand": None, "status": "active", "autopay": False,
                                      "validation": {"kind": "micro_entries", "status": "sent"}}]
    upstream.validations[METHOD_ID] = {"status": "sent", "can_confirm": True, "tries_left": 3,
                                       "cents": [7, 42], **validation}


@pytest.mark.parametrize("lang", ["en", "es"])
async def test_member_confirms_the_two_deposits_and_a_wrong_answer_is_refused(gw_no_captcha, upstream, lang):
    gw, words = gw_no_captcha, WORDS[lang]
    _saved(upstream)
    await login(gw, upstream)
    methods = await (await gw.get(f"/payment-methods?lang={lang}")).text()
    assert words["link"] in methods and f"/payment-methods/{METHOD_ID}/verify" in methods
    url = f"/payment-methods/{METHOD_ID}/verify"
    page = await (await gw.get(url)).text()
    assert words["tries"] in page and 'name="amount_1"' in page and 'name="amount_2"' in page
    assert f'lang="{lang}"' in page
    csrf = csrf_of(page)
    # Not an amount under $1 (or not ASCII digits): refused here, no try spent.
    for bad in ("1.50", "abc", "٠.٠٧"):
        r = await gw.post(url, data={"amount_1": bad, "amount_2": "0.42", "csrf_token": csrf})
        assert r.status == 422 and words["format"] in await r.text()
    assert upstream.validations[METHOD_ID]["tries_left"] == 3
    # A wrong answer: one try spent, nothing else.
    r = await gw.post(url, data={"amount_1": "0.08", "amount_2": "0.42", "csrf_token": csrf})
    page = await r.text()
    assert r.status == 422 and words["wrong"] in page and words["left2"] in page
    assert upstream.validations[METHOD_ID]["status"] == "sent"
    # The right amounts, in the other order.
    r = await gw.post(url, data={"amount_1": "0.42", "amount_2": ".07", "csrf_token": csrf})
    assert r.status == 200 and words["done"] in await r.text()
    assert upstream.validations[METHOD_ID]["status"] == "validated"


async def test_before_the_deposits_arrive_and_after_the_last_try(gw_no_captcha, upstream):
    gw, words = gw_no_captcha, WORDS["en"]
    _saved(upstream, can_confirm=False)
    await login(gw, upstream)
    page = await (await gw.get(f"/payment-methods/{METHOD_ID}/verify?lang=en")).text()
    assert words["wait"] in page and 'name="amount_1"' not in page
    upstream.validations[METHOD_ID].update(can_confirm=True, tries_left=1)
    page = await (await gw.get(f"/payment-methods/{METHOD_ID}/verify")).text()
    r = await gw.post(f"/payment-methods/{METHOD_ID}/verify",
                      data={"amount_1": "0.01", "amount_2": "0.02", "csrf_token": csrf_of(page)})
    assert r.status == 200 and words["failed"] in await r.text()
    # Someone else's method is not found.
    assert (await gw.get("/payment-methods/4f5e0000-0000-4000-8000-000000000000/verify")).status == 404


async def test_the_pay_page_says_what_happens_to_a_new_bank_account_and_when(gw_no_captcha, upstream):
    gw = gw_no_captcha
    upstream.account_validation = "prenote"
    upstream.new_account_validation = {"kind": "prenote", "entries_sent_on": "2030-12-02",
                                       "entries_arrive_on": "2030-12-03", "debit_with_validation": False,
                                       "first_debit_on": "2030-12-09"}
    await login(gw, upstream)
    page = await (await gw.get(f"/accounts/{fakes.BAN_A}/pay?lang=en")).text()
    assert "is checked with your bank first" in page and "5:00 PM ET" in page
    form = {**BILLING, "csrf_token": csrf_of(page), "idempotency_key": hidden_of(page)["idempotency_key"]}
    done = await (await gw.post(f"/accounts/{fakes.BAN_A}/pay", data=form)).text()
    assert "Payment received" in done
    assert "We check it with your bank on December 2, 2030 (ET)" in done
    assert "your payment is withdrawn on or about December 9, 2030 (ET)" in done
    # A due date too close to wait: the payment goes with the check.
    upstream.new_account_validation = {**upstream.new_account_validation, "debit_with_validation": True,
                                       "first_debit_on": "2030-12-03"}
    upstream.payments.clear()  # the first one is no longer on its way
    page = await (await gw.get(f"/accounts/{fakes.BAN_A}/pay?lang=es")).text()
    assert "se comprueba primero con su banco" in page
    form = {**BILLING, "csrf_token": csrf_of(page), "idempotency_key": hidden_of(page)["idempotency_key"]}
    done = await (await gw.post(f"/accounts/{fakes.BAN_A}/pay", data=form)).text()
    assert "su pago no espera la comprobación: se retira alrededor del 3 de diciembre de 2030 (ET)" in done
