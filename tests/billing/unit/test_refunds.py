"""Refunds of credit in billing's ledger: the rules (domain/refunds.py) and the use cases
(service_layer/refunds.py) against the in-memory ledger of test_payment_use_cases."""
from __future__ import annotations

from typing import Any

import pytest

from services.billing.adapters import repository
from services.billing.domain import refunds as rules
from services.billing.service_layer import accounts
from services.billing.service_layer import refunds as use_cases
from shared.contracts import billing as ev
from shared.contracts.envelope import Envelope, Event
from shared.contracts.payments import Contact, Method, RefundIssuedData, RefundReturnedData
from tests.billing.unit.test_payment_use_cases import BAN, TODAY, FakeBilling, clock, settled


class FakeWithRefunds(FakeBilling):
    async def refund_kinds(self, conn: object, ban: str, refund_id: str) -> set[str]:
        return {e["kind"] for e in self.ledger
                if e["payment_id"] == refund_id and e["kind"] in ("refund", "refund_returned")}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeWithRefunds:
    f = FakeWithRefunds()
    for name in ("account", "payment", "upsert_payment", "open_invoices", "record_applications",
                 "add_entry", "total_balance", "credit_cents", "reverse_payment",
                 "activate_binder_lines", "delinquency", "snapshots", "refund_kinds"):
        monkeypatch.setattr(repository, name, getattr(f, name))
    monkeypatch.setattr(accounts, "enqueue", f.enqueue)
    monkeypatch.setattr(use_cases, "enqueue", f.enqueue)
    return f


def _common(refund_id: str, cents: int) -> dict[str, Any]:
    return {"refund_id": refund_id, "confirmation_number": "RFD-1", "billing_account_number": BAN,
            "amount_cents": cents, "method": Method(type="checking", last4="1234"),
            "contact": Contact()}


def issued(refund_id: str, cents: int) -> Event:
    data = RefundIssuedData(**_common(refund_id, cents), issued_on=TODAY.isoformat(),
                            effective_date=TODAY.isoformat())
    return Event.of(Envelope.of(data, key=BAN), data)


def returned(refund_id: str, cents: int) -> Event:
    data = RefundReturnedData(**_common(refund_id, cents), return_code="R03",
                              return_reason="No account", returned_on=TODAY.isoformat())
    return Event.of(Envelope.of(data, key=BAN), data)


def test_rules_book_an_issued_refund_once_and_a_return_only_of_an_issued_one():
    assert rules.on_issued(12_34, set()) == rules.Booking("refund", 12_34)
    assert rules.on_issued(12_34, {"refund"}).kind is None
    assert rules.on_returned(12_34, set()).kind is None  # never issued: nothing to give back
    assert rules.on_returned(12_34, {"refund"}) == rules.Booking("refund_returned", -12_34)
    assert rules.on_returned(12_34, {"refund", "refund_returned"}).kind is None
    assert rules.credit_after(20_00, rules.on_issued(12_34, set())) == 7_66
    assert rules.credit_after(0, rules.on_returned(12_34, {"refund"})) == 12_34


async def test_an_issued_refund_takes_the_credit_down_and_a_return_gives_it_back(fake: FakeWithRefunds):
    fake.bill(2027, 1, 100_00)
    await accounts.on_payment_settled(None, settled("P1", 112_34), clock=clock)  # type: ignore[arg-type]
    assert await fake.credit_cents(None, BAN) == 12_34
    fake.events.clear()

    await use_cases.on_refund_issued(None, issued("R1", 12_34), clock=clock)  # type: ignore[arg-type]
    await use_cases.on_refund_issued(None, issued("R1", 12_34), clock=clock)  # type: ignore[arg-type]
    assert await fake.credit_cents(None, BAN) == 0
    assert [(e["kind"], e["amount_cents"]) for e in fake.ledger if e["payment_id"] == "R1"] == [
        ("refund", 12_34)]
    [changed] = fake.events
    assert isinstance(changed, ev.BalanceChangedData)
    assert (changed.reason, changed.total_balance_cents) == ("refund_issued", 0)

    await use_cases.on_refund_returned(None, returned("R1", 12_34), clock=clock)  # type: ignore[arg-type]
    await use_cases.on_refund_returned(None, returned("R1", 12_34), clock=clock)  # type: ignore[arg-type]
    assert await fake.credit_cents(None, BAN) == 12_34
    assert fake.events[-1].reason == "refund_returned"
    assert fake.events[-1].total_balance_cents == -12_34
    assert len(fake.events) == 2


async def test_a_return_of_a_refund_never_booked_changes_nothing(fake: FakeWithRefunds):
    fake.bill(2027, 1, 100_00)
    await use_cases.on_refund_returned(None, returned("R9", 5_00), clock=clock)  # type: ignore[arg-type]
    assert await fake.total_balance(None, BAN) == 100_00 and fake.events == []
