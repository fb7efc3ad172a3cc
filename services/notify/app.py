"""Wires the notify service: the consumer, the sender, the reminder scheduler, HTTP."""
from __future__ import annotations

import asyncio
import logging
from datetime import date
from pathlib import Path

from services.notify.adapters import repository as repo
from services.notify.adapters.email import SmtpPool
from services.notify.adapters.sms import make_sms_provider
from services.notify.adapters.templates import Renderer
from services.notify.config import Settings
from services.notify.domain.messages import MESSAGE_EVENT_TYPES
from services.notify.entrypoints import http
from services.notify.service_layer.compose import Composer
from services.notify.service_layer.deps import Deps
from services.notify.service_layer.intake import PROJECTION_EVENT_TYPES, Intake
from services.notify.service_layer.reminders import JOB, run_reminders
from services.notify.service_layer.sender import Sender, SenderConfig
from shared import locks, metrics
from shared.calendar import Clock, business_now
from shared.contracts import topics
from shared.runtime import Service

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"
# How often the reminder scheduler looks whether a business date is due.
REMINDER_POLL_S = 300.0


def make_composer(settings: Settings) -> Composer:
    return Composer(Renderer(), portal_url=settings.public_url.rstrip("/"),
                    support_phone=settings.support_phone, operator_email=settings.operator_email)


def make_sender(service: Service[Deps], settings: Settings) -> Sender:
    smtp = SmtpPool(settings.smtp_host, settings.smtp_port, size=settings.smtp_connections,
                    timeout_s=settings.smtp_timeout_s, username=settings.smtp_username,
                    password=settings.smtp_password, start_tls=settings.smtp_start_tls)
    config = SenderConfig(
        mail_from=settings.mail_from, batch=settings.sender_batch,
        attempts_max=settings.send_attempts_max, retry_base_s=settings.retry_base_s,
        retry_max_s=settings.retry_max_s, lease_s=settings.claim_lease_s,
        idle_poll_s=settings.sender_idle_poll_s,
        # Two sends per connection: one on the wire while the last one's record commits.
        email_in_flight=2 * settings.smtp_connections, sms_in_flight=2 * settings.sms_concurrency)
    assert service.pool is not None
    return Sender(service.pool, smtp, make_sms_provider(settings), config)


def build_service(settings: Settings, clock: Clock = business_now) -> Service[Deps]:
    service: Service[Deps] = Service("notify", settings, MIGRATIONS, produces=[topics.NOTIFY_V1])
    composer = make_composer(settings)
    intake = Intake(composer)
    service.consume(settings.consumer_group, topics.ENROLLMENT_V1, topics.IDENTITY_V1,
                    topics.BILLING_V1, topics.PAYMENTS_V1, batch_handler=intake.handle_batch,
                    event_types=sorted(set(MESSAGE_EVENT_TYPES) | set(PROJECTION_EVENT_TYPES)))
    http.register(service.app, lambda: service.pool, composer)

    @service.on_startup
    async def _deps(svc: Service[Deps]) -> None:
        svc.provide(Deps(composer, make_sender(svc, settings)))

    @service.on_cleanup
    async def _close_sender(svc: Service[Deps]) -> None:
        deps = svc.deps_if_provided
        if deps is not None:
            sender = deps.sender
            await sender.smtp.close()
            await sender.sms.close()

    if settings.run_sender:
        async def sender_job(svc: Service[Deps]) -> None:
            sender = svc.deps.sender
            await asyncio.gather(*(sender.run() for _ in range(settings.sender_workers)))
        service.job(sender_job)

    if settings.run_scheduler:
        # Once a day, after `reminder_hour` New York time, today's reminders, and
        # yesterday's too if the service was down then.
        async def reminders(svc: Service[Deps], day: date) -> None:
            await _run_reminders(svc, svc.deps.composer, settings, day)
        service.daily("notify-reminders", locks.NOTIFY_SCHEDULER, reminders,
                      hour=settings.reminder_hour, catch_up_days=1,
                      poll_s=REMINDER_POLL_S, clock=clock)
    return service


async def _run_reminders(service: Service[Deps], composer: Composer, settings: Settings,
                         day: date) -> None:
    """The reminders of one business date, unless `job_runs` records them done already (an
    operator's CLI run, say); a rerun would create nothing anyway."""
    assert service.pool is not None
    if await repo.job_ran(service.pool, JOB, day):
        return
    with metrics.job_run(JOB):
        await run_reminders(service.pool, composer, day, settings.reminder_days_before)
