"""The payment use cases (service_layer/accounts.py) against an in-memory ledger: the
repository functions they call are swapped for a fake, so no database is involved."""
from __future__ import annotations

import uuid
from datetime import date, datetime, timezone
from typing import Any

import pytest

from services.billing.adapters import repository
from services.billing.domain.rules import Application, OpenInvoice
from services.billing.service_layer import accounts
from shared.contracts import billing as ev
from shared.contracts.envelope import Envelope, Event
from shared.contracts.payments import (
    Allocation,
    Contact,
    Method,
    PaymentReturnedData,
    PaymentSettledData,
)

BAN = "7000000001"
TODAY = date(2027, 2, 10)


def clock() -> datetime:
    return datetime(2027, 2, 10, 17, 0, tzinfo=timezone.utc)  # noon in Boston


class FakeBilling:
    """One account's invoices, ledger, payments and the events it enqueued, kept in memory
    with the same meaning as the tables: the ledger is the truth, `paid_cents` its cache."""

    def __init__(self) -> None:
        self.invoices: list[dict[str, Any]] = []
        self.ledger: list[dict[str, Any]] = []
        self.payments: dict[str, dict[str, Any]] = {}
        self.events: list[Any] = []

    def bill(self, year: int, month: int, cents: int) -> None:
        inv = {"invoice_id": uuid.uuid4(), "coverage_year": year,
               "coverage_month": date(year, month, 1), "amount_cents": cents, "paid_cents": 0}
        self.invoices.append(inv)
        self.ledger.append({"coverage_year": year, "coverage_month": inv["coverage_month"],
                            "invoice_id": inv["invoice_id"], "payment_id": None,
                            "kind": "invoice", "amount_cents": cents})

    def paid(self) -> dict[str, int]:
        return {f"{i['coverage_month']:%Y-%m}": i["paid_cents"] for i in self.invoices}

    # ---- the repository functions the use cases call

    async def account(self, conn: object, ban: str, lock: bool = False) -> dict | None:
        return {"billing_account_number": ban, "plan_type": "health", "aptc": False} \
            if ban == BAN else None

    async def payment(self, conn: object, payment_id: str) -> dict | None:
        return self.payments.get(payment_id)

    async def upsert_payment(self, conn: object, payment_id: str, ban: str, amount_cents: int,
                             allocations: list, **flags: Any) -> dict:
        row = self.payments.setdefault(payment_id, {
            "payment_id": payment_id, "billing_account_number": ban,
            "amount_cents": amount_cents, "allocations": allocations, "submitted": False,
            "settled": False, "returned": False, "failed": False, "credited": False,
            "submitted_on": None})
        row.update(flags)
        return row

    async def open_invoices(self, conn: object, ban: str) -> list[OpenInvoice]:
        rows = sorted((i for i in self.invoices if i["paid_cents"] < i["amount_cents"]),
                      key=lambda i: (i["coverage_month"], i["coverage_year"]))
        return [OpenInvoice(i["invoice_id"], i["coverage_year"], i["coverage_month"],
                            i["amount_cents"] - i["paid_cents"]) for i in rows]

    async def record_applications(self, conn: object, ban: str, payment_id: str | None,
                                  apps: list[Application], day: date,
                                  kind: str = "payment") -> None:
        by_id = {i["invoice_id"]: i for i in self.invoices}
        for a in apps:
            self.ledger.append({"coverage_year": a.coverage_year,
                                "coverage_month": a.coverage_month, "invoice_id": a.invoice_id,
                                "payment_id": payment_id, "kind": kind,
                                "amount_cents": -a.amount_cents})
            by_id[a.invoice_id]["paid_cents"] += a.amount_cents

    async def add_entry(self, conn: object, ban: str, kind: str, amount_cents: int, day: date,
                        payment_id: str | None = None) -> None:
        self.ledger.append({"coverage_year": None, "coverage_month": None, "invoice_id": None,
                            "payment_id": payment_id, "kind": kind,
                            "amount_cents": amount_cents})

    async def total_balance(self, conn: object, ban: str) -> int:
        return sum(e["amount_cents"] for e in self.ledger)

    async def credit_cents(self, conn: object, ban: str) -> int:
        return -sum(e["amount_cents"] for e in self.ledger if e["coverage_year"] is None)

    async def reverse_payment(self, conn: object, ban: str, payment_id: str, day: date) -> int:
        entries = [e for e in self.ledger
                   if e["payment_id"] == payment_id and e["kind"] in ("payment", "credit")]
        by_id = {i["invoice_id"]: i for i in self.invoices}
        for e in entries:
            self.ledger.append({**e, "kind": "reversal", "amount_cents": -e["amount_cents"]})
            if e["invoice_id"]:
                by_id[e["invoice_id"]]["paid_cents"] += e["amount_cents"]
        return -sum(e["amount_cents"] for e in entries)

    async def activate_binder_lines(self, conn: object, ban: str) -> list:
        return []  # no line waits on a binder here

    async def delinquency(self, conn: object, ban: str) -> None:
        return None

    async def snapshots(self, conn: object, bans: list[str], today: date) -> dict[str, dict]:
        years = sorted({i["coverage_year"] for i in self.invoices})
        return {BAN: {"lines": [{
            "coverage_year": y,
            "balance_cents": sum(e["amount_cents"] for e in self.ledger if e["coverage_year"] == y),
            "current_premium_cents": 100_00, "due_date": None, "binder": False} for y in years]}}

    async def enqueue(self, conn: object, *payloads: Any, key: str, cause: object = None) -> None:
        self.events.extend(payloads)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeBilling:
    f = FakeBilling()
    for name in ("account", "payment", "upsert_payment", "open_invoices", "record_applications",
                 "add_entry", "total_balance", "credit_cents", "reverse_payment",
                 "activate_binder_lines", "delinquency", "snapshots"):
        monkeypatch.setattr(repository, name, getattr(f, name))
    monkeypatch.setattr(accounts, "enqueue", f.enqueue)
    return f


def settled(payment_id: str, cents: int, directed: dict[int, int] | None = None) -> Event:
    data = PaymentSettledData(
        payment_id=payment_id, confirmation_number="C1", billing_account_number=BAN,
        amount_cents=cents, method=Method(type="checking", last4="1234"),
        allocations=[Allocation(coverage_year=y, amount_cents=c)
                     for y, c in (directed or {}).items()],
        settled_on=TODAY.isoformat(), contact=Contact())
    return Event.of(Envelope.of(data, key=BAN), data)


def returned(payment_id: str, cents: int) -> Event:
    data = PaymentReturnedData(
        payment_id=payment_id, confirmation_number="C1", billing_account_number=BAN,
        amount_cents=cents, method=Method(type="checking", last4="1234"), return_code="R01",
        return_reason="Insufficient funds", returned_on=TODAY.isoformat(), will_retry=False,
        method_disabled=False, mandate_cancelled=False, contact=Contact())
    return Event.of(Envelope.of(data, key=BAN), data)


def one(events: list, kind: type) -> Any:
    found = [e for e in events if isinstance(e, kind)]
    assert len(found) == 1, events
    return found[0]


async def test_a_payment_pays_the_oldest_unpaid_month_first(fake: FakeBilling):
    fake.bill(2027, 2, 100_00)
    fake.bill(2027, 1, 100_00)  # billed later, but the older month
    await accounts.on_payment_settled(None, settled("P1", 150_00), clock=clock)  # type: ignore[arg-type]

    assert fake.paid() == {"2027-02": 50_00, "2027-01": 100_00}
    assert await fake.total_balance(None, BAN) == 50_00
    applied = one(fake.events, ev.PaymentAppliedData)
    assert [(a.coverage_month, a.amount_cents) for a in applied.allocations] == \
        [("2027-01", 100_00), ("2027-02", 50_00)]
    assert (applied.credit_cents, applied.total_balance_cents) == (0, 50_00)
    assert one(fake.events, ev.BalanceChangedData).total_balance_cents == 50_00


async def test_money_directed_to_a_year_pays_that_year_first_and_the_rest_is_credit(
        fake: FakeBilling):
    fake.bill(2026, 12, 80_00)
    fake.bill(2027, 1, 100_00)
    await accounts.on_payment_settled(None, settled("P1", 200_00, {2027: 100_00}),  # type: ignore[arg-type]
                                      clock=clock)

    assert fake.paid() == {"2026-12": 80_00, "2027-01": 100_00}
    applied = one(fake.events, ev.PaymentAppliedData)
    assert (applied.credit_cents, applied.total_balance_cents) == (20_00, -20_00)
    assert await fake.credit_cents(None, BAN) == 20_00
    assert fake.payments["P1"]["credited"] is True


async def test_a_returned_payment_reverses_its_credit_once(fake: FakeBilling):
    fake.bill(2027, 1, 100_00)
    await accounts.on_payment_settled(None, settled("P1", 130_00), clock=clock)  # type: ignore[arg-type]
    assert await fake.total_balance(None, BAN) == -30_00
    fake.events.clear()

    await accounts.on_payment_returned(None, returned("P1", 130_00), clock=clock)  # type: ignore[arg-type]

    assert fake.paid() == {"2027-01": 0}
    assert await fake.total_balance(None, BAN) == 100_00
    assert await fake.credit_cents(None, BAN) == 0
    reversed_ = one(fake.events, ev.PaymentReversedData)
    assert (reversed_.amount_cents, reversed_.return_code, reversed_.total_balance_cents) == \
        (130_00, "R01", 100_00)
    assert one(fake.events, ev.BalanceChangedData).reason == "payment_reversed"

    fake.events.clear()  # the same return again changes nothing
    await accounts.on_payment_returned(None, returned("P1", 130_00), clock=clock)  # type: ignore[arg-type]
    assert fake.events == [] and await fake.total_balance(None, BAN) == 100_00


async def test_a_return_before_the_settlement_means_the_payment_is_never_credited(
        fake: FakeBilling):
    fake.bill(2027, 1, 100_00)
    await accounts.on_payment_returned(None, returned("P1", 100_00), clock=clock)  # type: ignore[arg-type]
    await accounts.on_payment_settled(None, settled("P1", 100_00), clock=clock)  # type: ignore[arg-type]

    assert fake.paid() == {"2027-01": 0}
    assert await fake.total_balance(None, BAN) == 100_00
    assert fake.events == []
    assert fake.payments["P1"]["credited"] is False
