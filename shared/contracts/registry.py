"""The one registry of event payloads: every event type of every topic, and its model.

Consumers validate each event's `data` against it before a handler runs (shared/consumer.py),
so handlers are given typed payloads and a payload that does not match its contract is a
poison event. `tests/shared/test_contracts.py` keeps it equal to the topics' type lists.
"""
from __future__ import annotations

from typing import Any

from shared.contracts import billing, enrollment, identity, notify, payments
from shared.contracts.base import Payload

_EVENT_MODELS: tuple[type[Payload], ...] = (
    enrollment.EnrollmentCreatedData, enrollment.EnrollmentUpdatedData,
    enrollment.EnrollmentTerminatedData,
    identity.MemberRegisteredData, identity.MemberContactChangedData,
    identity.MemberLoginThrottledData, identity.MemberPasswordChangedData,
    identity.MemberEmailChangedData, identity.MemberRegistrationRepeatedData,
    identity.PasswordResetRequestedData, identity.UsernameReminderRequestedData,
    billing.AccountOpenedData, billing.InvoiceIssuedData, billing.BalanceChangedData,
    billing.PaymentAppliedData, billing.PaymentReversedData, billing.AccountDelinquentData,
    billing.CoverageEffectuatedData, billing.CoverageTerminatedData,
    payments.PaymentSubmittedData, payments.PaymentSettledData, payments.PaymentFailedData,
    payments.PaymentReturnedData, payments.AutopayCreatedData, payments.AutopayCancelledData,
    payments.AutopayUpdatedData, payments.MethodUpdatedData, payments.ReturnRateAlertData,
    payments.AutopayUpcomingData, payments.RefundRequestedData, payments.RefundIssuedData,
    payments.RefundReturnedData, payments.RefundFailedData, payments.AccountValidationStartedData,
    payments.AccountMicroEntriesSentData, payments.AccountValidatedData,
    payments.AccountValidationFailedData,
    notify.NotificationSentData, notify.NotificationFailedData,
)

# Event type -> the model of its `data`.
PAYLOADS: dict[str, type[Payload]] = {model.EVENT_TYPE: model for model in _EVENT_MODELS}
assert len(PAYLOADS) == len(_EVENT_MODELS) and "" not in PAYLOADS, "one model per event type"


def model_of(event_type: str) -> type[Payload]:
    """The payload model of an event type; an unknown type is a programming error."""
    try:
        return PAYLOADS[event_type]
    except KeyError:
        raise ValueError(f"unknown event type {event_type!r}: add it to shared.contracts.registry") from None


def read(event_type: str, data: Any) -> Payload:
    """An event's `data` as its contract's model (unknown fields ignored); raises pydantic's
    ValidationError when it does not match."""
    return model_of(event_type).read(data)
