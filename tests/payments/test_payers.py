"""Who pays (45 CFR 156.1250) as POST /payments takes it (entrypoints/schemas.py and
domain/payers.py): the member unless told otherwise, a third party only with its name, an
unknown kind refused in its field; and what the payment's events then say of the payer."""
from __future__ import annotations

import uuid
from datetime import date

import pytest

from services.payments.domain.methods import InvalidInput
from services.payments.domain.payers import PAYER_KINDS, Payer, parse_payer
from services.payments.entrypoints.schemas import payment_request
from services.payments.service_layer import events

BODY = {"idempotency_key": "k1", "billing_account_number": "7000000001", "kind": "one_time",
        "method": {"type": "checking"}, "contact": {"email": "maria@example.org"}, "amount": "10.00"}


def refusal(raw) -> dict[str, str]:
    with pytest.raises(InvalidInput) as err:
        parse_payer(raw)
    return err.value.fields


def test_the_member_pays_unless_another_payer_is_named():
    assert payment_request(BODY, None).payer == Payer()
    assert parse_payer(None) == parse_payer({"kind": "member", "name": "Ignored", "email": "x@y.org"}) == Payer()
    assert Payer().third_party is False


def test_every_kind_of_third_party_is_taken_with_its_name_and_optional_email():
    for kind in PAYER_KINDS[1:]:
        payer = payment_request({**BODY, "payer": {"kind": kind, "name": "  Boston   Health Care "}},
                                None).payer
        assert (payer.kind, payer.name, payer.email, payer.third_party) == (kind, "Boston Health Care", None, True)
    with_email = parse_payer({"kind": "tribe", "name": "Mashpee Wampanoag", "email": " pay@tribe.org "})
    assert with_email.email == "pay@tribe.org"


def test_unknown_kinds_and_missing_or_long_names_are_refused_in_their_fields():
    assert list(refusal({"kind": "cousin", "name": "X"})) == ["payer.kind"]
    assert "representative" in refusal({"kind": "cousin"})["payer.kind"]
    assert refusal({"kind": "ryan_white"}) == {"payer.name": "Enter the name of who is paying."}
    assert list(refusal({"kind": "ryan_white", "name": "   "})) == ["payer.name"]
    assert list(refusal({"kind": "ryan_white", "name": "x" * 101})) == ["payer.name"]
    assert list(refusal({"kind": "ryan_white", "name": "A\x00B"})) == ["payer.name"]
    assert list(refusal({"kind": "tribe", "name": "T", "email": "no-at-sign"})) == ["payer.email"]
    assert refusal("ryan_white") == {"payer": "payer is {kind, name, email}."}


def test_a_third_party_pays_one_payment_at_a_time():
    with pytest.raises(InvalidInput) as err:
        payment_request({**BODY, "kind": "recurring",
                         "payer": {"kind": "representative", "name": "Jordan Rivera"}}, None)
    assert list(err.value.fields) == ["payer.kind"]


def _row(**payer) -> dict:
    return {"payment_id": uuid.uuid4(), "confirmation_number": "PC-1", "billing_account_number": "7000000001",
            "plan_type": "health", "kind": "one_time", "amount_cents": 1000,
            "allocations": [{"coverage_year": 2027, "amount_cents": 1000}], "method_type": "checking",
            "method_last4": "6789", "method_brand": None, "expected_withdrawal_date": date(2026, 12, 3),
            "mandate_id": None, "contact": {"email": "maria@example.org"}, "channel": "guest",
            "cycle": None, "attempt": 1, "retry_of": None, **payer}


def test_the_events_name_a_third_party_and_say_nothing_of_a_member_paying():
    own = events.submitted(_row(payer_kind="member", payer_name=None, payer_email=None)).to_data()
    assert "payer" not in own  # the payload old readers know, unchanged
    paid = _row(payer_kind="ryan_white", payer_name="Boston Health Care", payer_email="rw@bhc.org")
    assert events.submitted(paid).to_data()["payer"] == {
        "kind": "ryan_white", "name": "Boston Health Care", "email": "rw@bhc.org"}
    assert events.settled(paid, date(2026, 12, 3)).to_data()["payer"]["name"] == "Boston Health Care"
    assert "email" not in events.failed(_row(payer_kind="tribe", payer_name="T", payer_email=None),
                                        "R01", "x").to_data()["payer"]
