"""The sender job: delivers pending notifications, retries with exponential backoff, and
publishes `notification.sent` / `notification.failed` through the outbox.

Replicas share the work safely: a batch is claimed with `FOR UPDATE SKIP LOCKED` and leased
(its next attempt pushed past the lease) in one short transaction, sent outside any
transaction, then settled in one transaction with its outbox events.
"""
from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass

import asyncpg

from services.notify.adapters import repository as repo
from services.notify.adapters.email import SmtpPool, mime_bytes, new_message_id
from services.notify.adapters.sms import SmsProvider
from services.notify.adapters.transport import DeliveryError, TransientDeliveryError
from shared.contracts.envelope import Envelope
from shared.contracts.notify import (NOTIFICATION_FAILED, NOTIFICATION_SENT,
                                     NotificationFailedData, NotificationSentData)
from shared.outbox import enqueue_many

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SenderConfig:
    mail_from: str
    batch: int = 500
    attempts_max: int = 6
    retry_base_s: float = 30.0
    retry_max_s: float = 3600.0
    lease_s: float = 300.0
    idle_poll_s: float = 0.1


@dataclass
class Outcome:
    row: asyncpg.Record
    provider_id: str | None = None
    error: DeliveryError | None = None


class Sender:
    def __init__(self, pool: asyncpg.Pool, smtp: SmtpPool, sms: SmsProvider,
                 config: SenderConfig) -> None:
        self.pool = pool
        self.smtp = smtp
        self.sms = sms
        self.config = config
        _, _, address = config.mail_from.rpartition("<")
        self.from_address = address.rstrip(">").strip() or config.mail_from
        self.mail_domain = self.from_address.rpartition("@")[2] or "localhost"

    def backoff_s(self, attempts_done: int) -> float:
        """30 s, 60 s, 120 s, ... (capped), with a little jitter so retries spread out."""
        delay = min(self.config.retry_max_s, self.config.retry_base_s * 2 ** (attempts_done - 1))
        return delay * random.uniform(0.9, 1.1)

    async def run_once(self) -> int:
        """Claim, send and settle one batch; returns how many were claimed."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await repo.claim_due(conn, self.config.batch, self.config.lease_s)
        if not rows:
            return 0
        outcomes = await asyncio.gather(*(self._deliver(r) for r in rows))
        await self._settle(outcomes)
        return len(rows)

    async def _deliver(self, row: asyncpg.Record) -> Outcome:
        try:
            if row["channel"] == "email":
                message_id = new_message_id(str(row["notification_id"]), self.mail_domain)
                message = mime_bytes(
                    sender=self.config.mail_from, recipient=row["recipient"],
                    subject=row["subject"], text=row["body_text"], html=row["body_html"],
                    message_id=message_id, language=row["language"],
                    headers={"X-Notification-Id": str(row["notification_id"]),
                             "X-Template": row["template"]})
                await self.smtp.send(message, self.from_address, row["recipient"])
                return Outcome(row, provider_id=message_id)
            return Outcome(row, provider_id=await self.sms.send(row["recipient"], row["body_text"]))
        except DeliveryError as exc:
            return Outcome(row, error=exc)
        except Exception as exc:  # noqa: BLE001 - an unexpected error is retried, not lost
            log.exception("unexpected delivery error")
            return Outcome(row, error=TransientDeliveryError(f"{type(exc).__name__}: {exc}"[:300]))

    async def _settle(self, outcomes: list[Outcome]) -> None:
        sent, retry, failed, events = [], [], [], []
        for o in outcomes:
            r = o.row
            attempts = r["attempts"] + 1
            if o.error is None:
                sent.append(o)
                events.append(self._event(r, NOTIFICATION_SENT, NotificationSentData(
                    notification_id=str(r["notification_id"]),
                    source_event_id=str(r["source_event_id"]),
                    source_event_type=r["source_event_type"], channel=r["channel"],
                    template=r["template"], language=r["language"],
                    recipient_masked=r["recipient_masked"]).model_dump()))
            elif o.error.permanent or attempts >= self.config.attempts_max:
                failed.append(o)
                events.append(self._event(r, NOTIFICATION_FAILED, NotificationFailedData(
                    notification_id=str(r["notification_id"]),
                    source_event_id=str(r["source_event_id"]),
                    source_event_type=r["source_event_type"], channel=r["channel"],
                    template=r["template"], error=str(o.error)[:500],
                    attempts=attempts).model_dump()))
                log.warning("notification failed", extra={
                    "notification_id": str(r["notification_id"]), "attempts": attempts,
                    "error": str(o.error)[:300]})
            else:
                retry.append((o, self.backoff_s(attempts)))
        async with self.pool.acquire() as conn, conn.transaction():
            if sent:
                await repo.mark_sent(conn, [o.row["notification_id"] for o in sent],
                                     [o.provider_id for o in sent])
            if retry:
                await repo.mark_retry(conn, [o.row["notification_id"] for o, _ in retry],
                                      [d for _, d in retry], [str(o.error)[:500] for o, _ in retry])
            if failed:
                await repo.mark_failed(conn, [o.row["notification_id"] for o in failed],
                                       [str(o.error)[:500] for o in failed])
            await enqueue_many(conn, events)

    @staticmethod
    def _event(row: asyncpg.Record, event_type: str, data: dict) -> Envelope:
        kwargs = {"correlation_id": row["correlation_id"]} if row["correlation_id"] else {}
        return Envelope(event_type=event_type, producer="notify", key=row["event_key"],
                        causation_id=str(row["source_event_id"]), data=data, **kwargs)

    async def run(self, stopping: asyncio.Event | None = None) -> None:
        """Send until cancelled; idle polling when nothing is due."""
        while stopping is None or not stopping.is_set():
            try:
                claimed = await self.run_once()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("sender batch failed; will retry", extra={"error": repr(exc)})
                claimed = 0
                await asyncio.sleep(1.0)
            if claimed < self.config.batch:
                await asyncio.sleep(self.config.idle_poll_s)
