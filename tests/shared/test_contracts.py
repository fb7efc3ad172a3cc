"""The event contracts: one payload base (strict when built, tolerant when read), one
registry over every topic's event types, envelopes built from the payloads."""
from __future__ import annotations

from datetime import datetime, timezone

import orjson
import pytest
from pydantic import ValidationError

from shared import consumer
from shared.contracts import billing, payments
from shared.contracts.base import Payload
from shared.contracts.envelope import HEADER_EVENT_TYPE, Envelope
from shared.contracts.registry import PAYLOADS, model_of, read
from shared.contracts.topics import TOPIC_OF_EVENT, TOPICS


def test_the_registry_names_every_event_type_of_every_topic_and_nothing_else():
    assert set(PAYLOADS) == set(TOPIC_OF_EVENT)
    for event_type, model in PAYLOADS.items():
        assert issubclass(model, Payload) and model.EVENT_TYPE == event_type
    with pytest.raises(ValueError, match="unknown event type"):
        model_of("payment.teleported")


def _method() -> dict:
    return {"type": "checking", "last4": "6789"}


def test_a_payload_is_strict_when_built_and_tolerant_when_read():
    fields = dict(method_id="m-1", billing_account_number="7000000018", method=_method(),
                  status="active", reason="added")
    with pytest.raises(ValidationError, match="Extra inputs"):
        payments.MethodUpdatedData(**fields, surprise=1)
    with pytest.raises(ValidationError, match="Extra inputs"):  # nested values too
        payments.MethodUpdatedData(**{**fields, "method": {**_method(), "colour": "blue"}})
    # A producer that adds an optional field (same version) does not break a reader.
    later = {**fields, "surprise": 1, "method": {**_method(), "colour": "blue"}}
    got = read("method.updated", later)
    assert got == payments.MethodUpdatedData(**fields)
    with pytest.raises(ValidationError):  # frozen
        got.reason = "x"  # type: ignore[misc]
    with pytest.raises(ValidationError):  # a field missing is not tolerated
        read("method.updated", {k: v for k, v in fields.items() if k != "status"})


def test_optional_fields_marked_so_are_left_out_while_unset_as_the_wire_always_had_them():
    card = payments.Method(type="card", last4="4242", brand="visa")
    assert payments.Method(type="checking", last4="6789").to_data() == _method()
    assert card.to_data() == {"type": "card", "last4": "4242", "brand": "visa"}
    effectuated = dict(billing_account_number="7000000018", enrollment_id="E-1", coverage_year=2027,
                       coverage_start="2027-01-01")
    assert billing.CoverageEffectuatedData(**effectuated).to_data() == effectuated
    assert billing.CoverageEffectuatedData(**effectuated, reinstated=True).to_data() == {
        **effectuated, "reinstated": True}


def test_an_envelope_is_built_from_its_payload():
    data = billing.PaymentReversedData(billing_account_number="7000000018", payment_id="p-1",
                                       amount_cents=100, return_code="R01", total_balance_cents=100)
    e = Envelope.of(data, key="7000000018", correlation_id="c-1")
    assert (e.event_type, e.event_version, e.producer, e.key) == (
        "payment.reversed", 1, TOPICS["billing.v1"].producer, "7000000018")
    assert e.data == data.to_data() and e.correlation_id == "c-1" and e.causation_id is None
    assert e.event_id.version == 7
    with pytest.raises(AssertionError, match="not an event payload"):
        Envelope.of(payments.Method(type="checking", last4="6789"), key="k")


def test_an_envelope_is_written_exactly_as_pydantic_would_write_it():
    data = billing.PaymentReversedData(billing_account_number="7000000018", payment_id="p-1",
                                       amount_cents=100, return_code="R01", total_balance_cents=100)
    started = Envelope.of(data, key="7000000018")
    assert started.correlation_id == str(started.event_id)  # a chain's first event
    on_the_second = Envelope(event_type="x.y", producer="billing", key="k", data={"n": [1, "a", None]},
                             occurred_at=datetime(2027, 1, 2, 3, 4, 5, tzinfo=timezone.utc))
    caused = started.caused(data, key="7000000018")
    for e in (started, on_the_second, caused):
        assert e.to_bytes() == orjson.dumps(e.model_dump(mode="json"))
        assert Envelope.from_bytes(e.to_bytes()) == e
    with pytest.raises(ValidationError):
        Envelope.of(data, key="")
    with pytest.raises(ValidationError):
        Envelope.of(data, key="k" * 101)


def test_an_envelope_of_fields_validates_its_payload_and_is_written_as_one_of_the_model():
    fields = {"billing_account_number": "7000000018", "payment_id": "p-1", "amount_cents": 100,
              "return_code": "R01", "total_balance_cents": 100}
    one = Envelope.of(billing.PaymentReversedData(**fields), key="7000000018", correlation_id="c-1")
    bulk = Envelope.of_fields(billing.PaymentReversedData, fields, key="7000000018",
                              correlation_id="c-1", causation_id="e-0")
    assert isinstance(bulk, Envelope) and bulk.data == billing.PaymentReversedData(**fields)
    assert (bulk.event_type, bulk.event_version, bulk.producer, bulk.key, bulk.correlation_id,
            bulk.causation_id) == (one.event_type, 1, one.producer, "7000000018", "c-1", "e-0")
    assert bulk.event_id.version == 7 and bulk.event_id != one.event_id
    assert bulk.to_bytes() == orjson.dumps(bulk.model_dump(mode="json"))
    assert Envelope.from_bytes(bulk.to_bytes()).data == one.data
    assert Envelope.of_fields(billing.PaymentReversedData, fields, key="k").correlation_id != "c-1"
    for drifted in ({**fields, "amount_cents": "a lot"}, {**fields, "undocumented": 1},
                    {k: v for k, v in fields.items() if k != "return_code"}):
        with pytest.raises(ValidationError):
            Envelope.of_fields(billing.PaymentReversedData, drifted, key="7000000018")
    with pytest.raises(ValidationError):  # the envelope's own rules hold too
        Envelope.of_fields(billing.PaymentReversedData, fields, key="")
    with pytest.raises(AssertionError, match="not an event payload"):
        Envelope.of_fields(payments.Method, {"type": "checking", "last4": "6789"}, key="k")


class _Record:
    def __init__(self, value: bytes | None, event_type: str | None, topic: str = "billing.v1") -> None:
        self.value, self.topic = value, topic
        self.headers = [] if event_type is None else [(HEADER_EVENT_TYPE, event_type.encode())]


def test_the_consumer_reads_envelope_and_payload_in_one_pass_only_when_all_agree():
    data = billing.PaymentReversedData(billing_account_number="7000000018", payment_id="p-1",
                                       amount_cents=100, return_code="R01", total_balance_cents=100)
    e = Envelope.of(data, key="7000000018")
    wanted = frozenset({billing.PAYMENT_REVERSED})
    raw = orjson.loads(e.to_bytes())
    raw["data"]["added_later"] = "ignored"  # a producer's new optional field
    events = consumer._typed_together([_Record(orjson.dumps(raw), billing.PAYMENT_REVERSED)], wanted)
    assert events is not None
    (_, event), = events
    assert event.data == data and type(event.data) is billing.PaymentReversedData
    fields = ("event_id", "event_type", "event_version", "occurred_at", "producer",
              "correlation_id", "causation_id", "key")
    assert [getattr(event, f) for f in fields] == [getattr(e, f) for f in fields]
    assert event.occurred_at.tzinfo is timezone.utc
    good = _Record(e.to_bytes(), billing.PAYMENT_REVERSED)
    bad_amount = orjson.loads(e.to_bytes())
    bad_amount["data"]["amount_cents"] = "1.5"
    # Anything unusual goes the careful way (None), which finds poison and skips.
    for odd in (_Record(e.to_bytes(), None),                                   # no header
                _Record(e.to_bytes(), billing.PAYMENT_APPLIED),                # header != body
                _Record(e.to_bytes(), "x.unknown"),                            # not handled
                _Record(None, billing.PAYMENT_REVERSED),                       # a tombstone
                _Record(b"{not json", billing.PAYMENT_REVERSED),
                _Record(orjson.dumps(bad_amount), billing.PAYMENT_REVERSED)):  # payload invalid
        assert consumer._typed_together([good, odd], wanted | {billing.PAYMENT_APPLIED}) is None


def _unusual_envelopes(e: Envelope) -> list[bytes]:
    """Valid envelopes the one-pass reader leaves to `Envelope`: a time in another zone,
    defaults `Envelope` fills in, a version as a string."""
    raw = orjson.loads(e.to_bytes())
    out = [{**raw, "occurred_at": "2026-12-02T17:30:00-05:00"},
           {**raw, "occurred_at": "2026-12-02 22:30:00Z"},
           {k: v for k, v in raw.items() if k != "correlation_id"},
           {**raw, "event_version": "1"}]
    return [orjson.dumps(value) for value in out]


async def test_an_envelope_the_one_pass_reader_leaves_is_read_the_careful_way_not_dead_lettered():
    data = billing.PaymentReversedData(billing_account_number="7000000018", payment_id="p-1",
                                       amount_cents=100, return_code="R01", total_balance_cents=100)
    e = Envelope.of(data, key="7000000018")
    records = [_Record(raw, billing.PAYMENT_REVERSED) for raw in _unusual_envelopes(e)]
    wanted = frozenset({billing.PAYMENT_REVERSED})
    for record in records:
        assert consumer._typed_together([record], wanted) is None
    reader = consumer.IdempotentConsumer(None, "billing.test", None,  # type: ignore[arg-type]
                                         handlers={billing.PAYMENT_REVERSED: None})  # type: ignore[dict-item]
    events = [event for _, event in await reader._parse(records)]
    assert [event.data for event in events] == [data] * 4
    assert [event.occurred_at for event in events[:2]] == [
        datetime(2026, 12, 2, 22, 30, tzinfo=timezone.utc)] * 2
    assert events[0].occurred_at.tzinfo is timezone.utc
    assert events[2].event_id == e.event_id and events[2].correlation_id != e.correlation_id
