"""The shared plumbing's pure parts: money, business calendar, envelope, log redaction."""
from __future__ import annotations

import json
import logging
from datetime import date, datetime, timezone

import pytest
from pydantic import ValidationError

from shared.calendar import add_banking_days, business_today, is_banking_day, next_banking_day
from shared.contracts.billing import PaymentReversedData
from shared.contracts.envelope import Envelope, uuid7
from shared.contracts.topics import TOPICS, dlq_topic, topic_for
from shared.logging import JsonFormatter, log_context, redact
from shared.money import InvalidAmount, format_cents, format_dollars, parse_amount, parse_typed_amount


@pytest.mark.parametrize("text,cents", [("0.01", 1), ("1", 100), ("123.4", 12340),
                                        ("123.45", 12345), ("9999999999.99", 999999999999)])
def test_amounts_parse_to_exact_cents(text, cents):
    assert parse_amount(text) == cents


@pytest.mark.parametrize("text", ["", "-1", "+1", "1.234", "1e3", "1,000", " 1", "1.", ".5",
                                  "01", "NaN", "inf", "１２"])
def test_amounts_that_are_not_plain_dollars_and_cents_are_refused(text):
    with pytest.raises(InvalidAmount):
        parse_amount(text)


@pytest.mark.parametrize("text,cents", [("25", 2500), ("$25", 2500), ("1,000.00", 100000), (" $1,000 ", 100000),
                                        ("$1,234,567.8", 123456780), ("0.01", 1), ("0", 0)])
def test_amounts_as_people_type_them(text, cents):
    assert parse_typed_amount(text) == cents


@pytest.mark.parametrize("text", ["", "-5", "$-5", "1,00", "1,0000", ",100", "$$5", "5$", "1e3", "25.123",
                                  "1２", "１２", "٣", "1 000"])
def test_typed_amounts_that_are_not_dollars_and_cents_are_refused(text):
    with pytest.raises(InvalidAmount):
        parse_typed_amount(text)


def test_dollars_as_people_read_them():
    assert [format_dollars(c) for c in (0, 125, 100000, 123456789, -500)] == \
        ["$0.00", "$1.25", "$1,000.00", "$1,234,567.89", "-$5.00"]


def test_cents_format_as_decimal_strings():
    assert [format_cents(c) for c in (0, 5, 100, 12345, -250)] == \
        ["0.00", "0.05", "1.00", "123.45", "-2.50"]
    with pytest.raises(AssertionError):
        format_cents(1.5)  # money is never a float


def test_banking_days_skip_weekends_and_federal_reserve_holidays():
    assert not is_banking_day(date(2026, 11, 26))  # Thanksgiving
    assert not is_banking_day(date(2026, 11, 11))  # Veterans Day
    assert not is_banking_day(date(2026, 11, 22))  # Sunday
    assert is_banking_day(date(2026, 11, 23))
    assert next_banking_day(date(2026, 11, 21)) == date(2026, 11, 23)
    # Wednesday before Thanksgiving + 2 banking days = the following Monday.
    assert add_banking_days(date(2026, 11, 25), 2) == date(2026, 11, 30)
    assert add_banking_days(date(2026, 12, 24), 1) == date(2026, 12, 28)  # Christmas Friday


def test_business_today_is_new_york_date():
    # 02:00 UTC on Nov 24 is still Nov 23 in New York.
    assert business_today(datetime(2026, 11, 24, 2, 0, tzinfo=timezone.utc)) == date(2026, 11, 23)


def test_envelope_round_trip_and_headers():
    e = Envelope(event_type="payment.settled", producer="payments", key="7000000018",
                 data={"amount_cents": 100})
    back = Envelope.from_bytes(e.to_bytes())
    assert back == e
    assert dict(e.headers())["event_type"] == b"payment.settled"
    caused = e.caused(PaymentReversedData(billing_account_number=e.key, payment_id="p1", amount_cents=100,
                                          return_code="R01", total_balance_cents=100), e.key)
    assert caused.correlation_id == e.correlation_id and caused.causation_id == str(e.event_id)
    assert (caused.event_type, caused.producer) == ("payment.reversed", "billing")
    assert caused.data == {"billing_account_number": e.key, "payment_id": "p1", "amount_cents": 100,
                           "return_code": "R01", "total_balance_cents": 100}


def test_envelope_refuses_naive_times_and_missing_fields():
    with pytest.raises(ValidationError):
        Envelope(event_type="x", producer="p", key="k", occurred_at=datetime(2026, 1, 1))
    with pytest.raises(ValidationError):
        Envelope.from_bytes(b'{"event_type": "payment.settled"}')


def test_event_ids_are_uuid7_and_grow_with_time():
    ids = [Envelope(event_type="x", producer="p", key="k").event_id for _ in range(3)]
    assert {i.version for i in ids} == {7}
    later = uuid7()
    assert later.int >> 80 >= max(i.int >> 80 for i in ids)  # the millisecond field
    assert len({Envelope(event_type="x", producer="p", key="k").event_id for _ in range(10_000)}) == 10_000


def test_envelopes_validated_together_are_those_validated_one_by_one():
    raws = [Envelope(event_type="payment.settled", producer="payments", key=f"70000000{i:02d}",
                     data={"amount_cents": i, "lines": [{"a": 1}]}).to_bytes() for i in range(20)]
    raws.append(b'{"event_id": "0193a4b2-1c3d-7e4f-8a5b-6c7d8e9f0a1b", "event_type": "x", '
                b'"occurred_at": "2026-11-23T07:00:00-05:00", "producer": "p", '
                b'"correlation_id": "c", "key": "k", "data": {}}')
    together = Envelope.many_from_bytes(raws)
    assert together == [Envelope.from_bytes(r) for r in raws]
    assert together[-1].occurred_at == datetime(2026, 11, 23, 12, tzinfo=timezone.utc)
    assert together[-1].occurred_at.tzinfo is timezone.utc
    # Any record that is not an envelope on its own fails the call (the consumer then
    # parses one by one): a missing field, bad JSON, or two documents in one value.
    for bad in (b'{"event_type": "payment.settled"}', b"{not json", raws[0] + b"," + raws[1]):
        with pytest.raises(ValueError):
            Envelope.many_from_bytes([raws[0], bad, raws[2]])


def test_every_event_type_has_one_topic():
    assert topic_for("payment.settled") == "payments.v1"
    assert topic_for("account.opened") == "billing.v1"
    assert sum(len(t.event_types) for t in TOPICS.values()) == len(
        {et for t in TOPICS.values() for et in t.event_types})
    with pytest.raises(ValueError):
        topic_for("payment.teleported")
    assert dlq_topic("billing.payments") == "dlq.billing.payments"


def test_logs_are_json_with_context_and_never_show_ssn_or_card_digits():
    formatter = JsonFormatter("test")
    record = logging.makeLogRecord({"msg": "member 123-45-6789 paid with 4111111111111111",
                                    "levelname": "INFO", "name": "t"})
    with log_context(correlation_id="c-1", billing_account_number="7000000018"):
        line = json.loads(formatter.format(record))
    assert line["correlation_id"] == "c-1"
    assert "6789" not in line["msg"] and "4111" not in line["msg"]
    assert line["billing_account_number"] == "7000000018"  # a BAN is not a secret
    assert redact("ssn 123456789") == "ssn [redacted]"
