"""The lockbox file's rules (services/payments/domain/lockbox.py): every field checked,
every bad line named, an item numbered twice refused."""
from __future__ import annotations

from datetime import date

import pytest

from services.payments.domain.lockbox import COLUMNS, Refused, check_fields, decode, parse_file
from shared.numbers import make_ban

DAY = date(2026, 4, 7)
BAN = make_ban(12345)
HEADER = ",".join(COLUMNS)


def line(seq: int = 1, **f: str) -> str:
    row = {"batch_id": "301", "item_sequence": str(seq), "deposit_date": "2026-04-06",
           "billing_account_number": BAN, "amount": "310.00", "check_number": "1234",
           "kind": "check", "payer_name": "María Santos", **f}
    return ",".join(row[c] for c in COLUMNS)


def test_a_good_file_reads_every_item_in_cents():
    items = parse_file("\r\n".join([HEADER, line(1), line(2, amount="25.50", kind="money_order",
                                                          check_number="77")]) + "\r\n\r\n",
                       DAY, 5_000_000)
    assert [(i.line_number, i.amount_cents, i.kind, i.last4) for i in items] == [
        (2, 31000, "check", "1234"), (3, 2550, "money_order", "0077")]
    assert items[0].payer_name == "María Santos" and items[0].deposit_date == date(2026, 4, 6)


@pytest.mark.parametrize("field, value", [
    ("billing_account_number", BAN[:-1] + str((int(BAN[-1]) + 1) % 10)),  # check digit
    ("billing_account_number", "７" + BAN[1:]),                           # fullwidth digit
    ("amount", "310"), ("amount", "-5.00"), ("amount", "1e3"), ("amount", "0.00"),
    ("amount", '"3,100.00"'), ("amount", "60000.00"), ("amount", "310.001"), ("amount", "31000"),
    ("amount", "25.5"),
    ("check_number", "12a4"), ("check_number", "١٢٣٤"), ("check_number", ""),
    ("kind", "cash"), ("deposit_date", "2026-04-08"), ("deposit_date", "04/06/2026"),
    ("batch_id", "B301"), ("item_sequence", "0"), ("payer_name", " "),
])
def test_a_bad_field_refuses_the_whole_file_naming_its_line(field, value):
    text = "\n".join([HEADER, line(1), line(2, **{field: value}), line(3)])
    with pytest.raises(Refused) as refused:
        parse_file(text, DAY, 5_000_000)
    [problem] = refused.value.problems
    assert (problem.line_number, problem.field) == (3, field)
    assert f"line 3, {field}:" in str(refused.value)


def test_every_problem_is_named_and_a_repeated_item_is_one():
    text = "\n".join([HEADER, line(1), line(1), line(2, amount="x", kind="x"), "301,4"])
    with pytest.raises(Refused) as refused:
        parse_file(text, DAY, 5_000_000)
    assert [(p.line_number, p.field) for p in refused.value.problems] == [
        (3, "item_sequence"), (4, "amount"), (4, "kind"), (5, "line")]


@pytest.mark.parametrize("text, where", [
    ("", "file"), (HEADER, "file"), ("batch,amount\n" + line(1), "header"),
    (HEADER + '\n301,"1,2026-04-06', "line")])
def test_a_file_that_is_not_a_lockbox_file_is_refused(text, where):
    with pytest.raises(Refused) as refused:
        parse_file(text, DAY, 5_000_000)
    assert refused.value.problems[0].field == where


def test_text_must_be_utf8_and_a_byte_order_mark_is_allowed():
    assert decode("\ufeffa".encode()) == "a"
    with pytest.raises(Refused):
        decode(b"\xff\xfe")


def test_a_counter_item_has_no_batch():
    item, problems = check_fields({"deposit_date": "2026-04-07", "billing_account_number": BAN,
                                   "amount": "80.00", "check_number": "5", "kind": "check",
                                   "payer_name": "Pat"}, DAY, None, 5_000_000, batch=False)
    assert problems == [] and item is not None
    assert (item.batch_id, item.item_sequence, item.last4) == (None, None, "0005")
