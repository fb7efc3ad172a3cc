"""Kafka entry points: enrollment.v1 and billing.v1 events, mapped to intake use cases."""
from __future__ import annotations

import functools

from services.identity.service_layer import intake
from services.identity.service_layer.deps import Deps
from shared.consumer import Handler
from shared.contracts.billing import ACCOUNT_OPENED
from shared.contracts.enrollment import ENROLLMENT_CREATED, ENROLLMENT_TERMINATED, ENROLLMENT_UPDATED


def handlers(deps: Deps) -> dict[str, Handler]:
    """The intake group's handlers, bound to the service's dependencies."""
    def bind(fn):
        return functools.partial(fn, deps=deps)
    return {
        ENROLLMENT_CREATED: bind(intake.enrollment_changed),
        ENROLLMENT_UPDATED: bind(intake.enrollment_changed),
        ENROLLMENT_TERMINATED: bind(intake.enrollment_terminated),
        ACCOUNT_OPENED: bind(intake.account_opened),
    }
