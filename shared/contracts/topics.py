"""Topic names, partition counts, event types and consumer group ids: the one place they live
(each event type is a constant of its producer's contract module, e.g. `payments.PAYMENT_SETTLED`).

Topics are one per producer and major version. Keys: the billing account number, except
`enrollment.v1` (household id) and `identity.v1` (member id), so one key's events stay in
order on one partition.
"""
from __future__ import annotations

from dataclasses import dataclass

from shared.contracts import billing, enrollment, identity, notify, payments


@dataclass(frozen=True)
class Topic:
    name: str
    producer: str
    event_types: tuple[str, ...]
    partitions: int = 6


ENROLLMENT_V1 = "enrollment.v1"
IDENTITY_V1 = "identity.v1"
BILLING_V1 = "billing.v1"
PAYMENTS_V1 = "payments.v1"
NOTIFY_V1 = "notify.v1"

TOPICS: dict[str, Topic] = {
    t.name: t
    for t in (
        Topic(ENROLLMENT_V1, "enrollment", (
            enrollment.ENROLLMENT_CREATED, enrollment.ENROLLMENT_UPDATED,
            enrollment.ENROLLMENT_TERMINATED)),
        Topic(IDENTITY_V1, "identity", (
            identity.MEMBER_REGISTERED, identity.MEMBER_CONTACT_CHANGED,
            identity.MEMBER_LOGIN_THROTTLED, identity.MEMBER_PASSWORD_CHANGED,
            identity.MEMBER_EMAIL_CHANGED, identity.MEMBER_REGISTRATION_REPEATED,
            identity.PASSWORD_RESET_REQUESTED, identity.USERNAME_REMINDER_REQUESTED)),
        Topic(BILLING_V1, "billing", (
            billing.ACCOUNT_OPENED, billing.INVOICE_ISSUED, billing.BALANCE_CHANGED,
            billing.PAYMENT_APPLIED, billing.PAYMENT_REVERSED, billing.ACCOUNT_DELINQUENT,
            billing.COVERAGE_EFFECTUATED, billing.COVERAGE_TERMINATED)),
        Topic(PAYMENTS_V1, "payments", (
            payments.PAYMENT_SUBMITTED, payments.PAYMENT_SETTLED, payments.PAYMENT_FAILED,
            payments.PAYMENT_RETURNED, payments.AUTOPAY_CREATED, payments.AUTOPAY_CANCELLED,
            payments.AUTOPAY_UPDATED, payments.METHOD_UPDATED, payments.RETURN_RATE_ALERT,
            payments.AUTOPAY_UPCOMING, payments.REFUND_REQUESTED, payments.REFUND_ISSUED,
            payments.REFUND_RETURNED, payments.REFUND_FAILED, payments.ACCOUNT_VALIDATION_STARTED,
            payments.ACCOUNT_MICRO_ENTRIES_SENT, payments.ACCOUNT_VALIDATED,
            payments.ACCOUNT_VALIDATION_FAILED)),
        Topic(NOTIFY_V1, "notify", (notify.NOTIFICATION_SENT, notify.NOTIFICATION_FAILED)),
    )
}

# Which topic carries each event type (every type has exactly one producer).
TOPIC_OF_EVENT: dict[str, str] = {
    event_type: topic.name for topic in TOPICS.values() for event_type in topic.event_types
}


def topic_for(event_type: str) -> str:
    """The topic an event type is published on; unknown types are a programming error."""
    try:
        return TOPIC_OF_EVENT[event_type]
    except KeyError:
        raise ValueError(f"unknown event type {event_type!r}: add it to shared.contracts.topics") from None


def dlq_topic(group_id: str) -> str:
    """Dead letters of a consumer group go to `dlq.<group>`."""
    return f"dlq.{group_id}"


# Consumer groups: `<service>.<purpose>`. Replicas of a service share a group.
class Groups:
    IDENTITY_INTAKE = "identity.intake"
    BILLING_ENROLLMENTS = "billing.enrollments"
    BILLING_PAYMENTS = "billing.payments"
    PAYMENTS_BILLING = "payments.billing-projection"
    NOTIFY_EVENTS = "notify.events"
    GATEWAY_NONE = ""  # the gateway consumes nothing: it calls services over HTTP

    @classmethod
    def all(cls) -> list[str]:
        return [v for k, v in vars(cls).items() if k.isupper() and v]
