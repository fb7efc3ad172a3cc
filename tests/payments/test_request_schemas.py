"""The request bodies of POST /payments and the autopay routes as the entry point checks
them (services/payments/entrypoints/schemas.py): every refusal at once, in its field, in
the words the API has always used; what passes, normalized as the use cases take it."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.payments.entrypoints import schemas
from shared.http import validation_fields

METHOD = {"type": "checking", "account_number": "123456789"}
CONTACT = {"email": "maria@example.org"}


def refused(model, body) -> dict[str, str]:
    with pytest.raises(ValidationError) as err:
        model.model_validate(body)
    return validation_fields(err.value)


def test_a_payment_body_that_is_not_an_object_is_refused_as_a_whole():
    for body in ([], None, "pay"):
        assert refused(schemas.PaymentBody, body) == {"body": "A JSON object is required."}


def test_an_empty_payment_body_lists_every_missing_field_in_order():
    assert list(refused(schemas.PaymentBody, {}).items()) == [
        ("idempotency_key", "idempotency_key is required."),
        ("billing_account_number", "billing_account_number is required."),
        ("kind", "Choose a one-time or a recurring payment."),
        ("method", "Choose how to pay."),
        ("contact.email", "Enter an email address for the confirmation.")]


def test_payment_fields_of_the_wrong_kind_each_say_what_they_should_be():
    assert refused(schemas.PaymentBody, {
        "idempotency_key": "k" * 201, "billing_account_number": 7000000001, "kind": "weekly",
        "channel": None, "allocations": {}, "method": "card",
        "contact": {"email": "maria@example.org", "email_confirmation": "mario@example.org"},
        "expected_amount": "1.234"}) == {
        "idempotency_key": "idempotency_key is required.",
        "billing_account_number": "billing_account_number is required.",
        "kind": "Choose a one-time or a recurring payment.",
        "channel": "channel is guest or member.",
        "allocations": "allocations is a list of {coverage_year, amount}.",
        "method": "Choose how to pay.",
        "contact.email_confirmation": "The two email addresses do not match.",
        "expected_amount": "expected_amount is the amount reviewed, like 125.50."}


def test_a_valid_payment_body_is_taken_as_typed_with_its_text_trimmed():
    body = {"idempotency_key": " key-1 ", "billing_account_number": "7000000001",
            "kind": "one_time", "amount": "total", "expected_amount": "125.50", "method": METHOD,
            "allocations": [], "contact": {"email": " Maria@Example.org ",
                                           "email_confirmation": "maria@example.org",
                                           "phone": 6175550100, "language": "fr"}}
    req = schemas.payment_request(body, "203.0.113.9")
    assert (req.key, req.ban, req.kind, req.channel, req.amount) == \
        ("key-1", "7000000001", "one_time", "guest", "total")
    assert req.allocations is None and req.expected_cents == 12550 and req.method == METHOD
    assert req.contact == {"email": "Maria@Example.org", "phone": None, "language": "en"}
    assert req.client_ip == "203.0.113.9" and req.member_id is None
    assert req.body is body  # the idempotency hash covers the body as sent
    assert schemas.payment_request({**body, "client_ip": "198.51.100.1"}, "203.0.113.9").client_ip \
        == "198.51.100.1"


def test_an_autopay_body_lists_its_refusals_with_a_card_refused_beside_them():
    assert list(refused(schemas.AutopayBody, {"contact": "x", "terms_language": "fr",
                                              "method": {"type": "card"}}).items()) == [
        ("idempotency_key", "idempotency_key is required."),
        ("contact.email", "Enter an email address for the confirmation."),
        ("terms_language", "terms_language is en or es."),
        ("method.type", "Recurring payments are drawn from a checking or savings account.")]
    assert refused(schemas.AutopayBody, [1]) == {
        "idempotency_key": "idempotency_key is required.",
        "contact.email": "Enter an email address for the confirmation."}


def test_a_valid_autopay_body_keeps_the_method_as_typed():
    body = {"idempotency_key": "k", "contact": CONTACT, "method": METHOD, "terms_language": "es"}
    req = schemas.autopay_request(body, "203.0.113.9")
    assert req.method == METHOD and req.terms_language == "es" and req.client_ip == "203.0.113.9"
    assert schemas.autopay_request({**body, "method": "x"}, None).method == {}
    change = schemas.AutopayMethodBody.model_validate({"method": METHOD})
    assert change.method.typed() == METHOD
    assert refused(schemas.AutopayMethodBody, {"method": {"type": "card"}}) == {
        "method.type": "Recurring payments are drawn from a checking or savings account."}
