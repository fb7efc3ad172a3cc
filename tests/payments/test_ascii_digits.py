"""Payments checks typed numbers again, as ASCII digits, whatever the gateway let through."""
from __future__ import annotations

from datetime import date

import pytest

from services.payments.domain.amounts import parse_typed_amount
from services.payments.domain.methods import InvalidInput, parse_bank_account, parse_card
from shared.money import InvalidAmount, parse_amount
from shared.numbers import is_digits, is_valid_ban

ARABIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
BANK = {"type": "checking", "account_holder_name": "Maria Santos", "account_number": "123456789012",
        "account_number_confirmation": "123456789012", "routing_number": "011000015",
        "routing_number_confirmation": "011000015"}
CARD = {"cardholder_name": "Maria Santos", "card_number": "4111111111111111", "expiry_month": 12,
        "expiry_year": 2031, "cvv": "123", "postal_code": "02108"}


@pytest.mark.parametrize("script", [ARABIC, FULLWIDTH])
def test_foreign_digits_are_refused_field_by_field(script):
    assert parse_bank_account(BANK).routing_number == "011000015"
    for field in ("routing_number", "account_number"):
        raw = {**BANK, field: BANK[field].translate(script), f"{field}_confirmation": BANK[field].translate(script)}
        with pytest.raises(InvalidInput) as exc:
            parse_bank_account(raw)
        assert f"method.{field}" in exc.value.fields
    for field in ("card_number", "cvv", "postal_code"):
        with pytest.raises(InvalidInput) as exc:
            parse_card({**CARD, field: CARD[field].translate(script)}, date(2026, 3, 2))
        assert f"method.{field}" in exc.value.fields
    with pytest.raises(InvalidInput):
        parse_typed_amount("12.34".translate(script))
    with pytest.raises(InvalidAmount):
        parse_amount("12.34".translate(script))
    assert not is_digits("123".translate(script)) and not is_valid_ban("7000000013".translate(script))
    assert is_valid_ban("7000000013") and not is_valid_ban("7000000010")
