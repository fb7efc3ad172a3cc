"""Pure rules: check digits, brands, amounts, allocations, dates, NACHA layouts, return
policy, corrections, encryption, and the bank sandbox's validation."""
from __future__ import annotations

import uuid
from datetime import date, datetime

import pytest
from ach.parser import Parser
from cryptography.exceptions import InvalidTag

from sandboxes.bank import Rejected, return_file, validate
from services.payments.adapters.crypto import AccountCipher, Hasher
from services.payments.domain import nacha, schedule
from services.payments.domain.amounts import Line, allocate, parse_typed_amount, resolve_amount
from services.payments.domain.methods import (
    InvalidInput,
    aba_ok,
    card_brand,
    luhn_ok,
    parse_bank_account,
    parse_card,
)
from services.payments.domain.returns import decide_return, parse_correction

ORIGIN = nacha.Origin("011000015", "SANDBOX BANK", "HEALTH CONNECTOR", "1046001234")


def test_aba_check_digit():
    assert aba_ok("011000015") and aba_ok("021000021") and aba_ok("121000358")
    assert not aba_ok("011000016") and not aba_ok("12345678") and not aba_ok("000000000")


@pytest.mark.parametrize("number,brand", [
    ("4242424242424242", "visa"), ("5555555555554444", "mastercard"),
    ("2223003122003222", "mastercard"), ("378282246310005", "amex"),
    ("6011111111111117", "discover"), ("6445644564456445", "discover")])
def test_luhn_and_brand(number, brand):
    assert luhn_ok(number) and card_brand(number) == brand
    assert not luhn_ok(number[:-1] + str((int(number[-1]) + 1) % 10))


def test_card_rules():
    today = date(2026, 3, 2)
    card = parse_card({"cardholder_name": "A B", "card_number": "4242 4242 4242 4242",
                       "expiry_month": 3, "expiry_year": 2026, "cvv": "123", "postal_code": "02108"}, today)
    assert card.brand == "visa" and "4242424242424242" not in repr(card)
    with pytest.raises(InvalidInput) as err:
        parse_card({"cardholder_name": "A B", "card_number": "4242424242424242", "expiry_month": 2,
                    "expiry_year": 2026, "cvv": "123", "postal_code": "02108"}, today)
    assert "expired" in err.value.fields["method.expiry_month"]
    with pytest.raises(InvalidInput) as err:
        parse_card({"cardholder_name": "A B", "card_number": "3530111333300000", "expiry_month": 2,
                    "expiry_year": 2030, "cvv": "123", "postal_code": "02108"}, today)
    assert "We accept" in err.value.fields["method.card_number"]  # JCB passes Luhn, not accepted


def test_bank_rules_and_repr_hides_number():
    acct = parse_bank_account({"type": "savings", "account_holder_name": " Maria ", "account_number": "1234-5678",
                               "account_number_confirmation": "12345678", "routing_number": "011000015",
                               "routing_number_confirmation": "011000015"})
    assert acct.account_number == "12345678" and acct.holder_name == "Maria"
    assert "12345678" not in repr(acct)


@pytest.mark.parametrize("text,message", [
    ("0", "more than zero"), ("-1", "more than zero"), ("1.001", "two digits"),
    ("1e3", "exponents"), ("1E3", "exponents"), ("abc", "dollars"), ("", "dollars"), (None, "dollars"),
    (" 12", None), ("$12.50", None)])
def test_typed_amounts(text, message):
    if message is None:
        assert parse_typed_amount(text) in (1200, 1250)
    else:
        with pytest.raises(InvalidInput) as err:
            parse_typed_amount(text)
        assert message in err.value.fields["amount"]


def test_amount_limits():
    assert resolve_amount("total", 5000, 0, 10**7) == 5000
    assert resolve_amount("50.00", 5000, 0, 10**7) == 5000
    with pytest.raises(InvalidInput):
        resolve_amount("50.01", 5000, 0, 10**7)
    assert resolve_amount("60.00", 5000, 1000, 10**7) == 6000
    with pytest.raises(InvalidInput):
        resolve_amount("total", 0, 0, 10**7)


def test_allocation_oldest_year_first_with_remainder_on_newest():
    lines = [Line(2026, 3000), Line(2025, 1000)]
    assert allocate(2500, lines, None) == [{"coverage_year": 2025, "amount_cents": 1000},
                                           {"coverage_year": 2026, "amount_cents": 1500}]
    assert allocate(4500, lines, None)[-1] == {"coverage_year": 2026, "amount_cents": 3500}
    with pytest.raises(InvalidInput) as err:
        allocate(100, lines, [{"coverage_year": 2024, "amount": "1.00"}])
    assert "allocations.0.coverage_year" in err.value.fields


def test_draft_days_and_withdrawal_dates():
    assert schedule.draft_date(2026, 3) == date(2026, 3, 23)      # Sunday 22nd
    assert schedule.draft_date(2026, 11) == date(2026, 11, 23)    # Sunday 22nd
    assert schedule.draft_date(2029, 11) == date(2029, 11, 23)    # Thanksgiving on the 22nd
    assert schedule.cycle_of(date(2026, 4, 22)) == "2026-04" and schedule.cycle_of(date(2026, 3, 22)) is None
    assert schedule.next_draft_date(date(2026, 3, 23)) == date(2026, 4, 22)
    assert schedule.one_time_withdrawal_date(date(2026, 12, 24), False) == date(2026, 12, 29)  # Christmas
    assert schedule.one_time_withdrawal_date(date(2026, 3, 2), True) == date(2026, 3, 5)


def _entries(n: int):
    return [(date(2026, 3, 4), nacha.Entry("checking" if i % 2 else "savings", "021000021",
                                           f"{1000 + i}", 100 + i, "7000000001", "Maria Santos",
                                           i + 1, bool(i % 3))) for i in range(n)]


def test_nacha_file_layout_and_independent_parser():
    text, totals = nacha.build_file(ORIGIN, datetime(2026, 3, 2, 17, 0), "A", _entries(25),
                                    batch_entries_max=10)
    lines = text.splitlines()
    assert all(len(x) == 94 for x in lines) and len(lines) % 10 == 0 and lines[-1] == "9" * 94
    assert totals == {"entries": 25, "batches": 3, "debit_cents": sum(100 + i for i in range(25)),
                      "entry_hash": (2100002 * 25) % 10**10, "blocks": len(lines) // 10}
    parsed = Parser(text).as_dict()
    assert int(parsed["file_control"]["debit_amount"]) == totals["debit_cents"]
    assert int(parsed["file_control"]["batch_count"]) == 3
    assert int(parsed["file_control"]["block_count"]) == totals["blocks"]
    assert sum(int(b["batch_control"]["entadd_count"]) for b in parsed["batches"]) == 25
    traces = [e["entry_detail"]["trace_num"] for b in parsed["batches"] for e in b["entries"]]
    assert traces == sorted(traces) and traces[0] == "011000010000001"
    assert validate(text).entry_hash == 2100002 * 25


def test_bank_rejects_broken_files():
    text, _ = nacha.build_file(ORIGIN, datetime(2026, 3, 2, 17, 0), "A", _entries(3))
    lines = text.split("\n")
    entry = next(i for i, x in enumerate(lines) if x.startswith("6"))
    bad_routing = lines[:]
    bad_routing[entry] = bad_routing[entry][:11] + "9" + bad_routing[entry][12:]
    bad_amount = lines[:]
    bad_amount[entry] = bad_amount[entry][:29] + "0000009999" + bad_amount[entry][39:]
    short = lines[:]
    short[entry] = short[entry][:90]
    for broken, reason in [(bad_routing, "check digit"), (bad_amount, "batch control"), (short, "length")]:
        with pytest.raises(Rejected, match=reason):
            validate("\n".join(broken))


def test_return_file_round_trip_through_our_parser():
    entries = [(date(2026, 3, 4), nacha.Entry("checking", "021000021", acct, 5000, "7000000001",
                                              "M S", i + 1, False))
               for i, acct in enumerate(["123401", "123402", "123455", "123400", "123466"])]
    text, _ = nacha.build_file(ORIGIN, datetime(2026, 3, 2, 17, 0), "A", entries)
    answer = return_file(validate(text), datetime(2026, 3, 5, 9, 0))
    items = nacha.parse_return_file(answer)
    assert [(i.kind, i.code) for i in items] == [("return", "R01"), ("return", "R02"),
                                                 ("noc", "C01"), ("noc", "C05")]
    assert items[2].corrected_data == "123456" and items[0].original_trace == "011000010000001"
    with pytest.raises(nacha.MalformedFile, match="cut short|out of place|padding"):
        nacha.parse_return_file("\n".join(answer.split("\n")[:4]))


def test_return_policy_and_corrections():
    assert decide_return("R01", 1, 2, True).will_retry
    assert decide_return("R09", 2, 2, True).will_retry
    assert not decide_return("R01", 3, 2, True).will_retry
    d = decide_return("R03", 1, 2, True)
    assert d.method_disabled and not d.will_retry and not d.mandate_cancelled
    assert decide_return("R10", 1, 2, True).mandate_cancelled
    assert not decide_return("R07", 1, 2, False).mandate_cancelled
    assert parse_correction("C01", "987654321   ").account_number == "987654321"
    assert parse_correction("C02", "021000021").routing_number == "021000021"
    assert parse_correction("C02", "021000022") is None
    c = parse_correction("C03", "021000021   12345678")
    assert (c.routing_number, c.account_number) == ("021000021", "12345678")
    assert parse_correction("C05", "37").account_type == "savings"


def test_encryption_with_rotation():
    row = uuid.uuid4()
    old = AccountCipher("k1", "dev-only-one")
    blob, kid = old.encrypt("123456789012", row)
    assert b"123456789012" not in blob and kid == "k1"
    new = AccountCipher("k2", "dev-only-two", "k1:dev-only-one")
    assert new.decrypt(blob, kid, row) == "123456789012"
    assert new.encrypt("1", row)[1] == "k2"
    with pytest.raises(InvalidTag):
        new.decrypt(blob, kid, uuid.uuid4())  # bound to its row
    h = Hasher("dev-only-x")
    assert h("a", "b") == h("a", "b") != h("ab") and len(h("x")) == 64
