"""Plays the exchange's enrollment system: publishes demo enrollments on `enrollment.v1`.

The event ids are derived from the enrollment ids, so seeding again (every `make run`) is
absorbed by the services' idempotent consumers. `enrollment_event` is also what the
end-to-end tests use to create members of their own.
"""
from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime, timedelta, timezone

from aiokafka import AIOKafkaProducer

from shared.contracts.enrollment import ENROLLMENT_CREATED
from shared.contracts.envelope import Envelope
from shared.contracts.topics import ENROLLMENT_V1
from shared.kafka import PLAINTEXT, KafkaAuth

SEED_NAMESPACE = uuid.UUID("5e3d7a1c-2b4f-4c6e-9a8d-0f1e2d3c4b5a")


def enrollment_event(*, enrollment_id: str, household_id: str, plan_type: str,
                     coverage_year: int, coverage_start: date, plan_name: str, carrier: str,
                     premium_cents: int, aptc: bool, shopped_at: datetime, first_name: str,
                     last_name: str, date_of_birth: date, ssn: str | None, email: str,
                     phone: str, language: str = "en",
                     event_type: str = ENROLLMENT_CREATED) -> Envelope:
    """An `enrollment.created` (or `.updated`) envelope exactly as the exchange sends it."""
    return Envelope(
        event_id=uuid.uuid5(SEED_NAMESPACE, f"{event_type}:{enrollment_id}"),
        event_type=event_type, producer="enrollment", key=household_id,
        data={
            "enrollment_id": enrollment_id, "household_id": household_id,
            "plan_type": plan_type, "coverage_year": coverage_year,
            "coverage_start": coverage_start.isoformat(), "plan_name": plan_name,
            "carrier": carrier, "premium_cents": premium_cents, "aptc": aptc,
            "shopped_at": shopped_at.isoformat(),
            "subscriber": {"first_name": first_name, "last_name": last_name,
                           "date_of_birth": date_of_birth.isoformat(), "ssn": ssn},
            "contact": {"email": email, "phone": phone, "language": language},
        })


def demo_enrollments(now: datetime | None = None) -> list[Envelope]:
    """Three households of the demo, in open enrollment (both years for the first)."""
    now = now or datetime.now(timezone.utc)
    year = now.year
    maria = dict(household_id="HH-100001", first_name="Maria", last_name="Santos",
                 date_of_birth=date(1984, 3, 15), ssn="123456789",
                 email="maria.santos@example.org", phone="6175550101", aptc=True,
                 shopped_at=now - timedelta(days=30))
    james = dict(household_id="HH-100002", first_name="James", last_name="O'Brien",
                 date_of_birth=date(1990, 7, 4), ssn="987654320",
                 email="james.obrien@example.org", phone="6175550102", aptc=False,
                 shopped_at=now - timedelta(days=10))
    ana = dict(household_id="HH-100003", first_name="Ana", last_name="Rivera",
               date_of_birth=date(1978, 11, 30), ssn="555443333",
               email="ana.rivera@example.org", phone="6175550103", aptc=True,
               language="es", shopped_at=now - timedelta(hours=1))
    next_month = (now.replace(day=1) + timedelta(days=32)).replace(day=1).date()
    return [
        enrollment_event(enrollment_id="3300100001", plan_type="health", coverage_year=year,
                         coverage_start=date(year, 1, 1), plan_name="ConnectorCare Plan 2B",
                         carrier="Tufts Health Direct", premium_cents=9_400, **maria),
        enrollment_event(enrollment_id="3300100002", plan_type="dental", coverage_year=year,
                         coverage_start=date(year, 1, 1), plan_name="Altus Dental Basic",
                         carrier="Altus Dental", premium_cents=2_850, **maria),
        enrollment_event(enrollment_id="3300100003", plan_type="health",
                         coverage_year=year + 1, coverage_start=date(year + 1, 1, 1),
                         plan_name="ConnectorCare Plan 2B", carrier="Tufts Health Direct",
                         premium_cents=9_900, **maria),
        enrollment_event(enrollment_id="3300100004", plan_type="health", coverage_year=year,
                         coverage_start=next_month, plan_name="Health Connector Silver",
                         carrier="Blue Cross Blue Shield of Massachusetts",
                         premium_cents=41_237, **james),
        enrollment_event(enrollment_id="3300100005", plan_type="health",
                         coverage_year=year + 1, coverage_start=date(year + 1, 1, 1),
                         plan_name="ConnectorCare Plan 3A", carrier="WellSense",
                         premium_cents=13_300, **ana),
    ]


async def publish(bootstrap: str, events: list[Envelope], auth: KafkaAuth = PLAINTEXT) -> None:
    """Publish enrollments on enrollment.v1, as the exchange does (as its Kafka user)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                                **auth.client_options())
    await producer.start()
    try:
        futures = [await producer.send(ENROLLMENT_V1, e.to_bytes(), key=e.key.encode(),
                                       headers=e.headers()) for e in events]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


if __name__ == "__main__":
    # python -m scripts.seed_demo: publish the demo enrollments to $KAFKA_BOOTSTRAP (as
    # $KAFKA_SASL_USERNAME when KAFKA_SECURITY_PROTOCOL says SASL).
    from shared.settings import ServiceSettings

    settings = ServiceSettings()
    asyncio.run(publish(settings.kafka_bootstrap, demo_enrollments(), settings.kafka_auth()))
    print("demo enrollments published")
