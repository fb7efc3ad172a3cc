"""Wires the payments service: consumers, HTTP routes and jobs on the shared runtime."""
from pathlib import Path

from shared.contracts import topics
from shared.contracts.topics import Groups
from shared.runtime import Service
from services.payments.config import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


def build_service(settings: Settings) -> Service:
    service = Service("payments", settings, MIGRATIONS, produces=[topics.PAYMENTS_V1])
    service.consume(Groups.PAYMENTS_BILLING, topics.BILLING_V1, handlers={},
                    event_types=())  # TODO(issue): the payments domain's handlers
    return service
