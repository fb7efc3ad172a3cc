"""Wires the identity service: consumers, HTTP routes and jobs on the shared runtime."""
from pathlib import Path

from shared.contracts import topics
from shared.contracts.topics import Groups
from shared.runtime import Service
from services.identity.config import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


def build_service(settings: Settings) -> Service:
    service = Service("identity", settings, MIGRATIONS, produces=[topics.IDENTITY_V1])
    service.consume(Groups.IDENTITY_INTAKE, topics.ENROLLMENT_V1, topics.BILLING_V1, handlers={},
                    event_types=())  # TODO(issue): the identity domain's handlers
    return service
