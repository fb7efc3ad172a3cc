"""What billing's use cases and daily jobs need, given when the service is built."""
from __future__ import annotations

from dataclasses import dataclass, field

from services.billing.config import Settings
from shared.calendar import Clock, business_now


@dataclass
class Deps:
    settings: Settings
    # Billing's one source of the business date: events booked, answers given and the
    # daily jobs' date (the real New York clock unless a test fixes it).
    clock: Clock = field(default=business_now)
