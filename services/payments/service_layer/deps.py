"""What the use cases need, built once from the settings and passed down."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import asyncpg

from services.payments.adapters.ach_archive import AchArchive
from services.payments.adapters.crypto import AccountCipher, Hasher
from services.payments.adapters.processor import CardProcessor, HttpCardProcessor
from services.payments.config import Settings
from shared.calendar import Clock, business_now, business_today


@dataclass
class Deps:
    pool: asyncpg.Pool
    settings: Settings
    cipher: AccountCipher
    hasher: Hasher
    processor: CardProcessor
    clock: Clock = field(default=business_now)

    @property
    def archive(self) -> AchArchive:
        return AchArchive(self.settings.ach_archive, self.settings.ach_archive_key)

    def today(self) -> date:
        return business_today(self.clock())


def build_deps(pool: asyncpg.Pool, settings: Settings,
               processor: CardProcessor | None = None, clock: Clock = business_now) -> Deps:
    return Deps(pool, settings,
                AccountCipher(settings.account_key_id, settings.account_key, settings.account_old_keys),
                Hasher(settings.hash_key),
                processor or HttpCardProcessor(settings.card_processor_url,
                                               settings.card_processor_timeout_s),
                clock)
