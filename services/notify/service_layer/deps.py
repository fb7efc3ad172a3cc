"""What notify's use cases and jobs need, built at start (the sender needs the pool)."""
from __future__ import annotations

from dataclasses import dataclass

from services.notify.service_layer.compose import Composer
from services.notify.service_layer.sender import Sender


@dataclass
class Deps:
    composer: Composer  # notifications from intents, in the household's language
    sender: Sender  # claims due notifications and sends them by email or SMS
