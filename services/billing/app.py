"""Wires the billing service: consumers, HTTP routes and jobs on the shared runtime."""
from pathlib import Path

from shared.contracts import topics
from shared.contracts.topics import Groups
from shared.runtime import Service
from services.billing.config import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


def build_service(settings: Settings) -> Service:
    service = Service("billing", settings, MIGRATIONS, produces=[topics.BILLING_V1])
    service.consume(Groups.BILLING_ENROLLMENTS, topics.ENROLLMENT_V1, handlers={},
                    event_types=())  # TODO(issue): the billing domain's handlers
    service.consume(Groups.BILLING_PAYMENTS, topics.PAYMENTS_V1, handlers={},
                    event_types=())  # TODO(issue): the billing domain's handlers
    return service
