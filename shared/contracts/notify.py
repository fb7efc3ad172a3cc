"""`notify.v1`: what the notify service publishes about each notification it delivered or
gave up on. Keyed by billing account number (member id for identity-driven messages)."""
from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from shared.contracts.base import Payload

NOTIFICATION_SENT = "notification.sent"
NOTIFICATION_FAILED = "notification.failed"

Channel = Literal["email", "sms"]


class _NotificationData(Payload):
    """What both notify events say of the notification and the event that caused it."""

    notification_id: str
    source_event_id: str
    source_event_type: str = Field(max_length=100)
    channel: Channel
    template: str = Field(max_length=100)


class NotificationSentData(_NotificationData):
    """`data` of `notification.sent`."""
    EVENT_TYPE: ClassVar[str] = NOTIFICATION_SENT

    language: str = Field(max_length=10)
    recipient_masked: str = Field(max_length=300)


class NotificationFailedData(_NotificationData):
    """`data` of `notification.failed` (after the last attempt, or a permanent refusal)."""
    EVENT_TYPE: ClassVar[str] = NOTIFICATION_FAILED

    error: str = Field(max_length=500)
    attempts: int = Field(ge=1)
