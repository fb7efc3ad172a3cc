"""`notify.v1`: what the notify service publishes about each notification it delivered or
gave up on. Keyed by billing account number (member id for identity-driven messages)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

NOTIFICATION_SENT = "notification.sent"
NOTIFICATION_FAILED = "notification.failed"

Channel = Literal["email", "sms"]


class _NotificationData(BaseModel):
    """What both notify events say of the notification and the event that caused it."""

    model_config = ConfigDict(frozen=True)
    notification_id: str
    source_event_id: str
    source_event_type: str = Field(max_length=100)
    channel: Channel
    template: str = Field(max_length=100)


class NotificationSentData(_NotificationData):
    """`data` of `notification.sent`."""

    language: str = Field(max_length=10)
    recipient_masked: str = Field(max_length=300)


class NotificationFailedData(_NotificationData):
    """`data` of `notification.failed` (after the last attempt, or a permanent refusal)."""

    error: str = Field(max_length=500)
    attempts: int = Field(ge=1)
