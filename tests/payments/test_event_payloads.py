"""payments.v1 payloads are built from the contract's models: what goes on the wire is
field for field what docs/events.md fixes (and what payments sent when it built dicts)."""
from __future__ import annotations

import uuid
from datetime import date

import orjson
import pytest
from pydantic import ValidationError

from services.payments.service_layer import events
from shared.contracts import payments
from shared.contracts.envelope import Envelope

PID = uuid.UUID("0193a4b2-1c3d-7e4f-8a5b-6c7d8e9f0a1b")
MID = uuid.UUID("0193a4b2-1c3d-7e4f-8a5b-6c7d8e9f0a1c")
ROW = {"payment_id": PID, "confirmation_number": "PC-1", "billing_account_number": "7000000018",
       "plan_type": "health", "kind": "recurring", "amount_cents": 5850,
       "allocations": '[{"coverage_year": 2027, "amount_cents": 5850}]', "method_type": "checking",
       "method_last4": "6789", "method_brand": None, "expected_withdrawal_date": date(2027, 1, 25),
       "mandate_id": MID, "contact": '{"email": "a@x.org", "phone": null, "language": "es"}',
       "channel": "autopay", "cycle": "2027-01", "attempt": 2, "retry_of": PID}


def test_a_retried_autopay_draft_is_announced_with_every_field_as_before():
    e = events.envelope(events.submitted(ROW))
    assert (e.event_type, e.producer, e.key) == ("payment.submitted", "payments", "7000000018")
    assert Envelope.from_bytes(e.to_bytes()).data == {
        "payment_id": str(PID), "confirmation_number": "PC-1",
        "billing_account_number": "7000000018", "plan_type": "health", "kind": "recurring",
        "amount_cents": 5850, "allocations": [{"coverage_year": 2027, "amount_cents": 5850}],
        "method": {"type": "checking", "last4": "6789"},  # no brand key for a bank account
        "expected_withdrawal_date": "2027-01-25", "mandate_id": str(MID),
        "contact": {"email": "a@x.org", "phone": None, "language": "es"},
        "channel": "autopay", "cycle": "2027-01", "attempt": 2, "retry_of": str(PID)}


def test_a_card_payment_names_its_brand_and_keeps_its_nulls():
    card = {**ROW, "method_type": "card", "method_last4": "4242", "method_brand": "visa",
            "mandate_id": None, "retry_of": None, "cycle": None, "attempt": 1}
    data = events.submitted(card).to_data()
    assert data["method"] == {"type": "card", "last4": "4242", "brand": "visa"}
    assert (data["mandate_id"], data["cycle"], data["retry_of"], data["attempt"]) == (None, None, None, 1)


def test_a_cancellation_lists_the_drafts_in_flight():
    mandate = {"mandate_id": MID, "billing_account_number": "7000000018",
               "contact": {"email": "a@x.org"}}
    assert events.autopay_cancelled(mandate, "R07: revoked", [ROW]).to_data() == {
        "mandate_id": str(MID), "billing_account_number": "7000000018", "reason": "R07: revoked",
        "contact": {"email": "a@x.org", "phone": None, "language": "en"},
        "drafts_in_flight": [{"payment_id": str(PID), "amount_cents": 5850,
                              "expected_withdrawal_date": "2027-01-25"}]}


def test_a_payload_that_breaks_the_contract_fails_where_it_is_built():
    settle_day = date(2027, 1, 25)
    for build in (events.submitted, events.submitted_envelope,  # one event, and the bulk paths'
                  lambda row: events.settled(row, settle_day),
                  lambda row: events.settled_envelope(row, settle_day)):
        with pytest.raises(ValidationError):
            build({**ROW, "amount_cents": 0})  # amounts are positive cents
        with pytest.raises(ValidationError):
            build({**ROW, "allocations": [{"coverage_year": 2027, "amount_cents": 5850,
                                           "note": "undocumented"}]})
        with pytest.raises(ValidationError):
            build({**ROW, "method_type": "bitcoin"})  # a method the contract does not name
        with pytest.raises(ValidationError):
            build({**ROW, "kind": "sometimes"})


@pytest.mark.parametrize("row", [
    ROW,
    {**ROW, "method_type": "card", "method_last4": "4242", "method_brand": "visa", "mandate_id": None,
     "retry_of": None, "cycle": None, "attempt": 1, "channel": "member", "kind": "one_time"},
    {**ROW, "payer_kind": "ryan_white", "payer_name": "Boston Health Care", "payer_email": None},
])
def test_the_bulk_paths_write_the_envelope_one_event_would(row):
    """Autopay and settlement build each envelope from the payload's fields in one
    validation (`Envelope.of_fields`): the same header rules, the same bytes."""
    settle_day = date(2027, 1, 25)
    for one, bulk in ((events.envelope(events.submitted(row)), events.submitted_envelope(row)),
                      (events.envelope(events.settled(row, settle_day)),
                       events.settled_envelope(row, settle_day))):
        assert isinstance(bulk.data, (payments.PaymentSubmittedData, payments.PaymentSettledData))
        assert (bulk.event_type, bulk.event_version, bulk.producer, bulk.key, bulk.causation_id) == (
            one.event_type, one.event_version, one.producer, one.key, one.causation_id)
        assert bulk.event_id.version == 7 and bulk.correlation_id == str(bulk.event_id)
        assert bulk.data.to_data() == one.data
        written = orjson.loads(bulk.to_bytes())
        assert written == {**orjson.loads(one.to_bytes()), "event_id": str(bulk.event_id),
                           "correlation_id": str(bulk.event_id), "occurred_at": written["occurred_at"]}
        assert Envelope.from_bytes(bulk.to_bytes()).data == one.data


MANDATE = {"mandate_id": MID, "billing_account_number": "7000000018", "plan_type": "health",
           "contact": '{"email": "a@x.org", "phone": null, "language": "en"}',
           "confirmation_number": "AUT-1", "notice_low_cents": None, "notice_high_cents": None,
           "type": "checking", "last4": "6789", "brand": None}


def test_an_autopay_set_up_states_its_first_draft_only_inside_the_notice_window():
    method = {"type": "checking", "last4": "6789"}
    plain = events.autopay_created(MANDATE, method, date(2027, 1, 22), "I authorize.")
    assert "first_draft_amount_cents" not in plain.to_data()  # left out, as it always was
    stated = events.envelope(events.autopay_created(MANDATE, method, date(2027, 1, 22),
                                                    "I authorize.", 31_000))
    assert (stated.event_type, stated.key) == ("autopay.created", "7000000018")
    assert stated.data["first_draft_amount_cents"] == 31_000


def test_an_autopay_notice_has_every_field_and_its_range_only_when_one_was_chosen():
    notice = events.autopay_upcoming(MANDATE, date(2027, 1, 22), "2027-01", 45_210, None, "first",
                                     date(2027, 1, 19))
    e = events.envelope(notice)
    assert (e.event_type, e.producer, e.key) == ("autopay.upcoming", "payments", "7000000018")
    assert Envelope.from_bytes(e.to_bytes()).data == {
        "mandate_id": str(MID), "billing_account_number": "7000000018", "amount_cents": 45_210,
        "draft_date": "2027-01-22", "previous_amount_cents": None,  # null for the first draft
        "contact": {"email": "a@x.org", "phone": None, "language": "en"},
        "method": {"type": "checking", "last4": "6789"}, "cycle": "2027-01", "reason": "first",
        "cancel_by": "2027-01-19", "plan_type": "health"}
    ranged = {**MANDATE, "notice_low_cents": 20_000, "notice_high_cents": 40_000}
    data = events.autopay_upcoming(ranged, date(2027, 1, 22), "2027-01", 45_210, 31_000,
                                   "outside_range", date(2027, 1, 19)).to_data()
    assert data["notice_range"] == {"low_cents": 20_000, "high_cents": 40_000}
    assert data["previous_amount_cents"] == 31_000
    with pytest.raises(ValidationError):  # a reason the contract does not name
        events.autopay_upcoming(MANDATE, date(2027, 1, 22), "2027-01", 45_210, None, "whim",
                                date(2027, 1, 19))
