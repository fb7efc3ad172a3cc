"""Wires the notify service: consumers, HTTP routes and jobs on the shared runtime."""
from pathlib import Path

from shared.contracts import topics
from shared.contracts.topics import Groups
from shared.runtime import Service
from services.notify.config import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


def build_service(settings: Settings) -> Service:
    service = Service("notify", settings, MIGRATIONS, produces=[topics.NOTIFY_V1])
    service.consume(Groups.NOTIFY_EVENTS, topics.ENROLLMENT_V1, topics.IDENTITY_V1, topics.BILLING_V1, topics.PAYMENTS_V1, handlers={},
                    event_types=())  # TODO(issue): the notify domain's handlers
    return service
