"""Unit tests of the gateway's pure pieces: tokens, input rules, presenters, rate limits."""
from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from services.gateway import schemas as s
from services.gateway.domain import rules, tokens
from services.gateway.domain.presenters import public_payment_result, summarize
from services.gateway.entrypoints.web import RateLimiter
from services.gateway.translations import translate


def test_a_token_verifies_only_with_its_key_purpose_and_time():
    signer = tokens.Signer("dev-only-a")
    token = signer.sign(tokens.LOOKUP, {"ban": "7000000001"}, ttl_s=900, now=1_000)
    assert signer.verify(tokens.LOOKUP, token, now=1_899)["ban"] == "7000000001"
    with pytest.raises(tokens.InvalidToken):
        signer.verify(tokens.LOOKUP, token, now=1_901)          # expired after 15 minutes
    with pytest.raises(tokens.InvalidToken):
        signer.verify(tokens.QUICK_PAY, token, now=1_000)       # another purpose
    with pytest.raises(tokens.InvalidToken):
        tokens.Signer("dev-only-b").verify(tokens.LOOKUP, token, now=1_000)
    body, mac = token.split(".")
    forged = signer.sign(tokens.LOOKUP, {"ban": "7000000002"}, ttl_s=900, now=1_000).split(".")[0]
    with pytest.raises(tokens.InvalidToken):
        signer.verify(tokens.LOOKUP, f"{forged}.{mac}", now=1_000)  # another account's body
    for junk in ("", ".", "abc", "a.b.c"):
        with pytest.raises(tokens.InvalidToken):
            signer.verify(tokens.LOOKUP, junk)


@pytest.mark.parametrize("routing, ok", [("011000015", True), ("021000021", True), ("011000016", False),
                                         ("01100001", False), ("01100001a", False)])
def test_routing_number_check_digit(routing, ok):
    assert rules.aba_ok(routing) is ok


@pytest.mark.parametrize("number, ok", [("4111111111111111", True), ("4111111111111112", False),
                                        ("378282246310005", True), ("12345", False)])
def test_card_number_luhn(number, ok):
    assert rules.luhn_ok(number) is ok


def test_ids_by_type():
    assert rules.check_id("ssn", "123-45-6789") == "123456789"
    assert rules.check_id("billing_account_number", "7000000013") == "7000000013"
    with pytest.raises(ValueError, match="err.required"):
        rules.check_id("ssn", " ")
    for id_type, bad in (("ssn", "12345678"), ("billing_account_number", "6000000001"),
                         ("billing_account_number", "700000001"), ("enrollment_id", "x")):
        with pytest.raises(ValueError):
            rules.check_id(id_type, bad)


def test_lookup_request_fields_in_plain_words():
    base = {"plan_type": "health", "id_type": "ssn", "id_value": "123456789",
            "id_value_confirmation": "123456789", "first_name": " Maria ", "last_name": "Santos",
            "date_of_birth": "1984-03-15"}
    ok = s.LookupRequest.model_validate(base)
    assert ok.first_name == "Maria"
    with pytest.raises(ValidationError) as exc:
        s.LookupRequest.model_validate({**base, "id_value_confirmation": "123456780"})
    assert s.field_errors(exc.value) == {"id_value_confirmation": "err.ssn_mismatch"}
    with pytest.raises(ValidationError) as exc:
        s.LookupRequest.model_validate({**base, "plan_type": "vision", "date_of_birth": "2999-01-01",
                                        "first_name": ""})
    assert s.field_errors(exc.value) == {"plan_type": "err.choose", "date_of_birth": "err.date",
                                         "first_name": "err.required"}
    assert translate("es", "err.ssn_mismatch") == "Los dos números de Seguro Social no son iguales."


def test_every_message_key_has_both_languages():
    from services.gateway.translations import CATALOGS
    assert set(CATALOGS["en"]) == set(CATALOGS["es"])
    assert all(CATALOGS["es"][k].strip() for k in CATALOGS["es"])


def test_account_summary_total_current_premium_and_due_date():
    account = {"billing_account_number": "7000000001", "plan_type": "health", "status": "active",
               "total_balance_cents": 19_300,
               "lines": [{"coverage_year": 2031, "plan_name": "B", "balance_cents": 9_900,
                          "current_premium_cents": 9_900, "due_date": "2030-12-23", "status": "due"},
                         {"coverage_year": 2030, "plan_name": "A", "balance_cents": 9_400,
                          "current_premium_cents": 9_400, "due_date": "2030-11-23", "status": "due"}]}
    summary = summarize(account, date(2032, 1, 5))
    assert summary["total_balance"] == "193.00"
    assert [line["coverage_year"] for line in summary["lines"]] == [2030, 2031]
    assert summary["due_date"] == "2030-11-23"
    assert summary["current_premium"] == "94.00"  # the earliest year when none is this year
    paid_up = {**account, "total_balance_cents": 0,
               "lines": [{**account["lines"][1], "balance_cents": 0}]}
    assert summarize(paid_up, date(2032, 1, 5))["due_date"] == "2030-11-23"
    # In 2031 (New York's date) that year's line is this month's premium.
    assert summarize(account, date(2031, 3, 1))["current_premium"] == "99.00"


def test_payment_result_in_dollars():
    assert public_payment_result({"payment_id": "p", "confirmation_number": "C1", "status": "submitted",
                                  "amount_cents": 5, "expected_withdrawal_date": "2030-01-02"})["amount"] == "0.05"


def test_rate_limiter_windows():
    limiter = RateLimiter(per_minute=3, sensitive_per_minute=1)
    assert limiter.hit("1.1.1.1", True, now=60.0) is None
    assert limiter.hit("1.1.1.1", True, now=61.0) == 60  # wait until the next minute (+1 s)
    assert limiter.hit("2.2.2.2", True, now=61.0) is None   # per client
    assert limiter.hit("1.1.1.1", False, now=62.0) is None  # other pages: 3rd of 3
    assert limiter.hit("1.1.1.1", False, now=63.0) is not None  # the overall budget is spent
    assert limiter.hit("1.1.1.1", True, now=120.0) is None  # a new window


def test_pending_payments_leave_what_is_due_now_never_below_zero():
    from services.gateway.domain.presenters import with_pending
    pending = {"pending_total_cents": 9_900, "payments": [
        {"payment_id": "p1", "amount_cents": 4_050, "expected_withdrawal_date": "2030-12-03", "attempt": 1},
        {"payment_id": "p2", "amount_cents": 5_850, "expected_withdrawal_date": "2030-12-04", "attempt": 2}]}
    out = with_pending({}, 9_000, pending)
    assert (out["pending_total"], out["amount_due_now"]) == ("99.00", "0.00")
    assert out["pending_payments"] == [
        {"payment_id": "p1", "amount": "40.50", "expected_withdrawal_date": "2030-12-03", "retry": False},
        {"payment_id": "p2", "amount": "58.50", "expected_withdrawal_date": "2030-12-04", "retry": True}]
    assert with_pending({}, 15_000, pending)["amount_due_now"] == "51.00"
    assert with_pending({}, 15_000, None)["amount_due_now"] is None  # payments not answering: unknown


def test_step_4_refuses_amounts_it_cannot_charge():
    assert rules.amount_problem("1.25", "one_time", "1.25", 0, 5_000_000) is None
    assert rules.amount_problem("1.26", "one_time", "1.25", 0, 5_000_000) == ("err.amount_over_limit", 125)
    assert rules.amount_problem("1.26", "one_time", "1.25", 100, 5_000_000) is None
    assert rules.amount_problem("60000.00", "one_time", "99999.00", 0, 5_000_000) == ("err.amount_over_limit", 5_000_000)
    assert rules.amount_problem("1.00", "one_time", "0.00", 0, 5_000_000) == ("err.nothing_to_pay", 0)
    assert rules.amount_problem("total", "one_time", "0.00", 0, 5_000_000) == ("err.nothing_to_pay", 0)
    assert rules.amount_problem("total", "recurring", "0.00", 0, 5_000_000) is None  # a mandate alone
    assert rules.amount_problem("5.00", "one_time", None, 0, 5_000_000) is None  # payments decides


@pytest.mark.parametrize("typed,amount", [("$25", "25.00"), ("1,000.00", "1000.00"), ("25", "25.00"),
                                          (" 7.5 ", "7.50")])
def test_the_portal_takes_amounts_as_people_type_them(typed, amount):
    from services.gateway.entrypoints import forms
    body = forms.payment_body({"amount_choice": "other", "other_amount": typed, "kind": "one_time"},
                              "7000000001", {})
    assert body["amount"] == amount and "expected_amount" not in body


@pytest.mark.parametrize("typed,key", [("0", "err.amount_positive"), ("-5", "err.amount_positive"),
                                       ("1,00", "err.amount"), ("12٣", "err.amount")])
def test_zero_negative_and_garbled_amounts_are_refused_next_to_the_field(typed, key):
    from services.gateway.entrypoints import forms
    body = forms.payment_body({"amount_choice": "other", "other_amount": typed, "kind": "one_time",
                               "method_type": "checking"}, "7000000001", {})
    with pytest.raises(ValidationError) as exc:
        s.PaymentRequest.model_validate(body)
    assert forms.model_errors(exc.value)["other_amount"] == key


def test_a_returned_payment_is_shown_until_a_later_payment_settles():
    from services.gateway.domain.presenters import returned_payment
    returned = {"payment_id": "p1", "status": "returned", "amount": "58.50", "returned_on": "2030-12-05", "attempt": 1}
    retry = {"payment_id": "p2", "status": "pending", "amount": "58.50", "expected_withdrawal_date": "2030-12-09",
             "attempt": 2}
    assert returned_payment([retry, returned]) == {"payment_id": "p1", "amount": "58.50",
                                                   "returned_on": "2030-12-05", "retry_date": "2030-12-09"}
    assert returned_payment([returned])["retry_date"] is None
    assert returned_payment([{**retry, "status": "settled"}, returned]) is None
    assert returned_payment([]) is None


def test_a_use_cases_domain_error_is_answered_with_its_status_and_a_refusal_with_the_services():
    from services.gateway.adapters.upstream import Refused
    from services.gateway.entrypoints.errors import as_api_error
    from services.gateway.service_layer import errors
    from shared.errors import DomainError
    from shared.http import ApiError

    down = as_api_error(errors.Unavailable("billing"))
    assert (down.status, down.code, down.extra) == (503, "service_unavailable", {"service": "billing"})
    changed = as_api_error(errors.AmountChanged("The total changed.", "12.34"))
    assert (changed.status, changed.message, changed.extra) == (409, "The total changed.",
                                                                {"current_amount": "12.34"})
    captcha = as_api_error(errors.CaptchaInvalid(fields={"captcha": "err.captcha_invalid"}))
    assert (captcha.status, captcha.fields) == (422, {"captcha": "err.captcha_invalid"})
    refused = as_api_error(Refused(429, "throttled", "Too many tries.", retry_after_s=60))
    assert (refused.status, refused.code, refused.extra) == (429, "throttled", {"retry_after_s": 60})
    already = ApiError(403, "forbidden", "No.")
    assert as_api_error(already) is already

    class Unmapped(DomainError):
        code = "unmapped"
    with pytest.raises(Unmapped):  # no status given: a defect, answered 500 further out
        as_api_error(Unmapped())
