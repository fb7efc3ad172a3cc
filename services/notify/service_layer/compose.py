"""Turns an intent into notification rows: one per channel, rendered and checked."""
from __future__ import annotations

import dataclasses
import logging
import uuid
from typing import Any

from services.notify.adapters.templates import Renderer
from services.notify.domain.format import last4, mask_recipient
from services.notify.domain.messages import Intent
from services.notify.domain.recipients import Profile, deliveries
from services.notify.domain.redaction import redact_secrets

log = logging.getLogger(__name__)
EMAIL_BLOCKS = ("subject", "text", "html")
SMS_BLOCKS = ("subject", "sms")
NOTIFICATION_NAMESPACE = uuid.UUID("8a3c1f52-7d0e-4b1a-9c6f-2e4d5b6a7c8d")


def notification_id(source_event_id: uuid.UUID, channel: str) -> uuid.UUID:
    """Deterministic: the same event and channel always name the same notification."""
    return uuid.uuid5(NOTIFICATION_NAMESPACE, f"{source_event_id}:{channel}")


class Composer:
    def __init__(self, renderer: Renderer, *, portal_url: str, support_phone: str,
                 operator_email: str = "") -> None:
        self.renderer = renderer
        self.portal_url = portal_url
        self.support_phone = support_phone
        self.operator_email = operator_email  # where notices for the operators go (English)

    def rows(self, *, source_event_id: uuid.UUID, source_event_type: str,
             correlation_id: str | None, intent: Intent, profile: Profile | None) -> list[tuple]:
        """The notification rows (see repository.NOTIFICATION_COLUMNS) for this intent."""
        profile = profile or Profile()
        if intent.to_operators:  # no member's profile or preferences: the operators' mailbox
            intent = dataclasses.replace(intent, contact={"email": self.operator_email, "language": "en"})
            profile = Profile()
        out = []
        per_channel: dict[str, int] = {}
        for delivery in deliveries(intent, profile):
            # The first of a channel keeps the plain id; a second (an old address) its own.
            n = per_channel[delivery.channel] = per_channel.get(delivery.channel, 0) + 1
            slot = delivery.channel if n == 1 else f"{delivery.channel}:{n}"
            slot = f"{intent.slot}:{slot}" if intent.slot else slot
            context = self._context(intent, profile)
            blocks = EMAIL_BLOCKS if delivery.channel == "email" else SMS_BLOCKS
            rendered = self.renderer.render(intent.template, delivery.language, context, blocks)
            allowed = (*intent.allowed_numbers, self.support_phone, self.portal_url)
            subject, n1 = redact_secrets(rendered.subject, allowed)
            if delivery.channel == "email":
                text, n2 = redact_secrets(rendered.text, allowed)
                html, n3 = redact_secrets(rendered.html, allowed)
            else:
                text, n2 = redact_secrets(rendered.sms, allowed)
                html, n3 = None, 0
            if n1 + n2 + n3:
                log.warning("redacted number-like text from a message",
                            extra={"template": intent.template, "count": n1 + n2 + n3,
                                   "source_event_id": str(source_event_id)})
            out.append((
                notification_id(source_event_id, slot), source_event_id,
                source_event_type, delivery.channel, intent.template, rendered.language,
                intent.key, intent.billing_account_number, intent.member_id or profile.member_id,
                correlation_id, delivery.recipient,
                mask_recipient(delivery.channel, delivery.recipient), subject, text, html))
        if not out:
            log.info("no channel to reach this account or member",
                     extra={"template": intent.template, "key": intent.key})
        return out

    def _context(self, intent: Intent, profile: Profile) -> dict[str, Any]:
        facts = dict(intent.facts)
        facts["plan_type"] = facts.get("plan_type") or profile.plan_type
        return {**facts, "first_name": profile.first_name,
                "ban_last4": last4(intent.billing_account_number),
                "portal_url": self.portal_url, "support_phone": self.support_phone}
