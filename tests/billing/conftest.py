"""A real billing service (its consumers on real Kafka, its database on real PostgreSQL)
and helpers that publish what the exchange and the payments service would."""
from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timezone

import pytest

from scripts.seed_demo import enrollment_event, publish
from services.billing.app import build_service
from services.billing.config import Settings
from shared.contracts.envelope import Envelope
from shared.contracts.payments import (
    PaymentFailedData,
    PaymentReturnedData,
    PaymentSettledData,
    PaymentSubmittedData,
)
from shared.contracts.topics import PAYMENTS_V1
from shared.kafka import ensure_topics
from shared.runtime import Service
from tests.conftest import Infra, unique
from tests.harness import ServiceEnv, running_service
from tests.helpers import DayClock, wait_for

PAYMENT_MODELS = {"payment.submitted": PaymentSubmittedData, "payment.settled": PaymentSettledData,
                  "payment.returned": PaymentReturnedData, "payment.failed": PaymentFailedData}


def payment_event(event_type: str, ban: str, payment_id: str, amount_cents: int,
                  **extra) -> Envelope:
    """A payments.v1 event as payments publishes it (`extra` sets or adds fields)."""
    data = {"payment_id": payment_id, "confirmation_number": "C" + payment_id[:9],
            "billing_account_number": ban, "amount_cents": amount_cents,
            "allocations": extra.pop("allocations", []),
            "method": {"type": "checking", "last4": "6789"},
            "contact": {"email": "a@example.org", "phone": None, "language": "en"}}
    if event_type == "payment.submitted":
        data.update(plan_type="health", kind="one_time", expected_withdrawal_date="2027-01-01",
                    mandate_id=None, channel="guest")
    if event_type == "payment.settled":
        data["settled_on"] = extra.pop("settled_on", "2027-01-01")
    if event_type == "payment.returned":
        del data["allocations"]  # a return names the payment, not its allocations
        data.update(return_code=extra.pop("return_code", "R01"), return_reason="Insufficient funds",
                    returned_on="2027-01-05", will_retry=False, method_disabled=False,
                    mandate_cancelled=False)
    if event_type == "payment.failed":
        del data["allocations"]
        data.update(reason_code="R02", reason="Account closed")
    data.update(extra)
    PAYMENT_MODELS[event_type].model_validate(data)  # exactly what payments publishes
    return Envelope(event_type=event_type, producer="payments", key=ban, data=data)


@dataclass
class Billing(ServiceEnv):
    infra: Infra
    clock: DayClock  # the service's business date: `billing.clock.fix(day)`

    async def enroll(self, *, household_id: str, coverage_start: date, premium_cents: int,
                     aptc: bool = False, plan_type: str = "health", enrollment_id: str | None = None,
                     event_type: str = "enrollment.created") -> str:
        """Publish an enrollment and wait for the account; returns its number."""
        event = enrollment_event(
            enrollment_id=enrollment_id or unique("E"), household_id=household_id,
            plan_type=plan_type, coverage_year=coverage_start.year, coverage_start=coverage_start,
            plan_name="Silver", carrier="Carrier", premium_cents=premium_cents, aptc=aptc,
            shopped_at=datetime.now(timezone.utc), first_name="Ann", last_name="Lee",
            date_of_birth=date(1980, 1, 1), ssn=None, email="a@example.org", phone="6175550000",
            event_type=event_type)
        if event_type != "enrollment.created":  # a new event id for an update
            event = event.model_copy(update={"event_id": uuid.uuid4()})
        await publish(self.infra.kafka_bootstrap, [event])
        return await self.wait_for_account(household_id, plan_type, coverage_start.year)

    async def wait_for_account(self, household_id: str, plan_type: str, year: int) -> str:
        async def found():
            r = await self.client.get("/accounts", params={"household_id": household_id})
            for a in (await r.json())["accounts"]:
                if a["plan_type"] == plan_type and any(line["coverage_year"] == year for line in a["lines"]):
                    return a["billing_account_number"]
            return None
        return await wait_for(found, what=f"account of {household_id}")

    async def publish_payment(self, event_type: str, ban: str, payment_id: str, amount_cents: int,
                              **extra) -> Envelope:
        event = payment_event(event_type, ban, payment_id, amount_cents, **extra)
        await self.send(event)
        return event

    async def send(self, *events: Envelope) -> None:
        """On payments.v1 as they are (no type headers)."""
        for e in events:
            await self.producer.send_and_wait(PAYMENTS_V1, e.to_bytes(), key=e.key.encode())

    async def applied(self, event: Envelope) -> None:
        """Wait until billing's payments consumer has taken this event."""
        async def done():
            return await self.pool.fetchval(
                "SELECT true FROM processed_events WHERE event_id = $1", event.event_id)
        await wait_for(done, what=f"{event.event_type} applied")

    async def summary(self, ban: str) -> dict:
        r = await self.client.get(f"/accounts/{ban}")
        assert r.status == 200, await r.text()
        return await r.json()

    async def balance(self, ban: str) -> int:
        return (await self.summary(ban))["total_balance_cents"]

    async def months(self, ban: str) -> list[str]:
        """The coverage months billed to an account, oldest first."""
        rows = await self.pool.fetch(
            """SELECT to_char(coverage_month, 'YYYY-MM') FROM invoices
               WHERE billing_account_number = $1 ORDER BY coverage_month, coverage_year""", ban)
        return [r[0] for r in rows]

    async def outbox(self, ban: str, event_type: str) -> list[dict]:
        """The data of every event of a type billing published for an account, in the order
        it wrote them, read from billing.v1 once all it committed so far is there."""
        await self.tap.settled(self.pool)
        return [e.data for e in self.tap.events(event_type, key=ban)]


@pytest.fixture
async def billing(infra, fresh_db):
    settings = Settings(database_url=fresh_db, KAFKA_BOOTSTRAP=infra.kafka_bootstrap,
                        run_scheduler=False, consumer_offset_reset="latest",
                        enrollments_group=unique("test-billing-enr-"),
                        payments_group=unique("test-billing-pay-"))
    await ensure_topics(infra.kafka_bootstrap)
    clock = DayClock()

    async def far_from_others(service: Service) -> None:
        # Other suites publish payment events for small account numbers on the shared test
        # Kafka (every fresh database numbers from 1); start ours far away from theirs. Their
        # enrollments may still open accounts here, so tests assert on their own accounts.
        await service.pool.execute("SELECT setval('ban_seq', $1)", random.randrange(10**6, 9 * 10**7))

    async with running_service(infra, settings, lambda s: build_service(s, clock=clock),
                               prepare=far_from_others) as env:
        yield Billing.of(env, infra=infra, clock=clock)
