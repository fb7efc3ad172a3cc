"""The sender job: delivers pending notifications, retries with exponential backoff, and
publishes `notification.sent` / `notification.failed` through the outbox.

Replicas share the work safely: a batch is claimed with `FOR UPDATE SKIP LOCKED` and leased
(its next attempt pushed past the lease) in one short transaction, then sent outside any
transaction.

Each delivery is recorded (sent, with its outbox event; or its retry or failure) as soon as
the provider has answered, not when the whole batch is done: a crash or a database outage
mid-batch then repeats only what was in flight. Deliveries that finish together are
recorded together, in one transaction (a group commit: while one is being written, the
next group gathers), and a send holds its slot until its delivery is recorded, so at most
`email_in_flight + sms_in_flight` messages per process can have been accepted by a provider
and not yet recorded (the service gives two slots per SMTP connection and per concurrent
SMS request, one sending while the other's record commits: 16 + 16 by default). That is the bound of what a crash can send twice; a
database outage sends nothing twice (the record is retried until the database is back,
the slots held meanwhile). A message sent again carries the same `Message-ID` (derived from
the notification id) or, for SMS, the same idempotency key, which the provider honours.
"""
from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass

import asyncpg
from opentelemetry.trace import SpanKind

from services.notify.adapters import repository as repo
from services.notify.adapters.email import SmtpPool, message_id_for, mime_bytes
from services.notify.adapters.sms import SmsProvider
from services.notify.adapters.transport import DeliveryError, TransientDeliveryError
from shared import tracing
from shared.consumer import TRANSIENT_ERRORS
from shared.contracts.envelope import Envelope
from shared.contracts.notify import (
    NotificationFailedData,
    NotificationSentData,
)

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
    email_in_flight: int = 16   # sends not yet recorded, at most: what a crash can repeat
    sms_in_flight: int = 16


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
        assert config.email_in_flight >= 1 and config.sms_in_flight >= 1
        self._slots = {"email": asyncio.Semaphore(config.email_in_flight),
                       "sms": asyncio.Semaphore(config.sms_in_flight)}
        self._recorder = _GroupCommit(self._settle)

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
        lease_ends = time.monotonic() + self.config.lease_s * 0.9
        await asyncio.gather(*(self._deliver_and_record(r, lease_ends) for r in rows))
        return len(rows)

    async def _deliver_and_record(self, row: asyncpg.Record, lease_ends: float) -> None:
        async with self._slots[row["channel"]]:  # held until the delivery is recorded
            if time.monotonic() > lease_ends:
                return  # waited too long: another sender may claim it now; left to the next claim
            outcome = await self._deliver(row)
            await self._recorder.record(outcome)

    async def _deliver(self, row: asyncpg.Record) -> Outcome:
        with tracing.span("notify", f"send {row['channel']}", parent=row["traceparent"],
                          kind=SpanKind.CLIENT, attributes={"notification.template": row["template"]}):
            return await self._deliver_now(row)

    async def _deliver_now(self, row: asyncpg.Record) -> Outcome:
        try:
            if row["channel"] == "email":
                message_id = message_id_for(str(row["notification_id"]), self.mail_domain)
                message = mime_bytes(
                    sender=self.config.mail_from, recipient=row["recipient"],
                    subject=row["subject"], text=row["body_text"], html=row["body_html"],
                    message_id=message_id, language=row["language"],
                    headers={"X-Notification-Id": str(row["notification_id"]),
                             "X-Template": row["template"]})
                await self.smtp.send(message, self.from_address, row["recipient"])
                return Outcome(row, provider_id=message_id)
            return Outcome(row, provider_id=await self.sms.send(
                row["recipient"], row["body_text"], idempotency_key=str(row["notification_id"])))
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
                events.append(self._event(r, NotificationSentData, {
                    "notification_id": str(r["notification_id"]),
                    "source_event_id": str(r["source_event_id"]),
                    "source_event_type": r["source_event_type"], "channel": r["channel"],
                    "template": r["template"], "language": r["language"],
                    "recipient_masked": r["recipient_masked"]}))
            elif o.error.permanent or attempts >= self.config.attempts_max:
                failed.append(o)
                events.append(self._event(r, NotificationFailedData, {
                    "notification_id": str(r["notification_id"]),
                    "source_event_id": str(r["source_event_id"]),
                    "source_event_type": r["source_event_type"], "channel": r["channel"],
                    "template": r["template"], "error": str(o.error)[:500],
                    "attempts": attempts}))
                log.warning("notification failed", extra={
                    "notification_id": str(r["notification_id"]), "attempts": attempts,
                    "error": str(o.error)[:300]})
            else:
                retry.append((o, self.backoff_s(attempts)))
        async with self.pool.acquire() as conn:
            await repo.settle(
                conn, sent=([o.row["notification_id"] for o in sent], [o.provider_id for o in sent]),
                retry=([o.row["notification_id"] for o, _ in retry], [d for _, d in retry],
                       [str(o.error)[:500] for o, _ in retry]),
                failed=([o.row["notification_id"] for o in failed],
                        [str(o.error)[:500] for o in failed]),
                events=events)

    @staticmethod
    def _event(row: asyncpg.Record, model: type[NotificationSentData | NotificationFailedData],
               fields: dict[str, object]) -> Envelope:
        """A notify.v1 event caused by the event the notification answered (made from its
        fields in one validation, as the bulk paths make theirs: one per message sent)."""
        return Envelope.of_fields(model, fields, key=row["event_key"],
                                  correlation_id=row["correlation_id"],
                                  causation_id=str(row["source_event_id"]))

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


class _GroupCommit:
    """Records outcomes in groups: a caller's outcome joins the next write, and the caller
    returns once that write has committed. One write runs at a time; whoever holds the lock
    writes everything gathered so far. A write that fails on the database's or network's
    side is retried (every second) until it commits, so nothing already sent is forgotten
    and sent again because the database was briefly away."""

    def __init__(self, write) -> None:
        self._write = write
        self._lock = asyncio.Lock()
        self._pending: list[tuple[Outcome, asyncio.Future]] = []

    async def record(self, outcome: Outcome) -> None:
        done = asyncio.get_running_loop().create_future()
        self._pending.append((outcome, done))
        async with self._lock:
            if done.done():  # written by the group before
                return done.result()
            group, self._pending = self._pending, []
            try:
                await self._write_until_committed([o for o, _ in group])
            except BaseException as exc:
                # Cancelled (stopping) or a bug: the others' outcomes go back for the next
                # writer; if there is none, their rows' lease ends and they are sent again.
                self._pending[:0] = [(o, f) for o, f in group if f is not done]
                raise exc
            for _, future in group:
                if not future.done():
                    future.set_result(None)

    async def _write_until_committed(self, outcomes: list[Outcome]) -> None:
        while True:
            try:
                await self._write(outcomes)
                return
            except (*TRANSIENT_ERRORS, asyncpg.PostgresConnectionError) as exc:
                log.warning("recording deliveries failed; retrying", extra={
                    "deliveries": len(outcomes), "error": repr(exc)[:300]})
                await asyncio.sleep(1.0)
