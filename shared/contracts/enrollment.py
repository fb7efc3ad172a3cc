"""`enrollment.v1`: the exchange's enrollment system, the input boundary (the demo seeder
plays it). Keyed by household id. Only identity may read the subscriber's SSN."""
from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar, Literal

from pydantic import Field

from shared.contracts.base import Payload

ENROLLMENT_CREATED = "enrollment.created"
ENROLLMENT_UPDATED = "enrollment.updated"
ENROLLMENT_TERMINATED = "enrollment.terminated"

PlanType = Literal["health", "dental"]


class Subscriber(Payload):
    first_name: str = Field(min_length=1, max_length=100)
    last_name: str = Field(min_length=1, max_length=100)
    date_of_birth: date
    ssn: str | None = Field(default=None, pattern=r"^[0-9]{9}$")


class Contact(Payload):
    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=20)
    language: str = Field(default="en", max_length=10)


class EnrollmentData(Payload):
    """`data` of `enrollment.created` and `enrollment.updated`."""

    enrollment_id: str = Field(min_length=1, max_length=30)
    household_id: str = Field(min_length=1, max_length=30)
    plan_type: PlanType
    coverage_year: int = Field(ge=2000, le=2100)
    coverage_start: date
    plan_name: str = Field(max_length=200)
    carrier: str = Field(max_length=200)
    premium_cents: int = Field(ge=0)
    aptc: bool = False
    shopped_at: datetime
    subscriber: Subscriber
    contact: Contact


class EnrollmentCreatedData(EnrollmentData):
    """`data` of `enrollment.created` (an enrollment the exchange sends for the first time)."""
    EVENT_TYPE: ClassVar[str] = ENROLLMENT_CREATED


class EnrollmentUpdatedData(EnrollmentData):
    """`data` of `enrollment.updated` (the same fields; the premium or plan changed)."""
    EVENT_TYPE: ClassVar[str] = ENROLLMENT_UPDATED


class EnrollmentTerminatedData(Payload):
    EVENT_TYPE: ClassVar[str] = ENROLLMENT_TERMINATED
    enrollment_id: str = Field(min_length=1, max_length=30)
    reason: str = Field(max_length=200)
    effective_date: date
