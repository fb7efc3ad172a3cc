"""What the gateway's routes and use cases need, built at start from the settings: its
sessions database and what stands on it, the account cache and its change feed, the use
cases. The routes read it through the app's typed key (`entrypoints/keys.DEPS`)."""
from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from services.gateway.adapters.change_feed import ChangeFeed
from services.gateway.adapters.drafts import PaymentDrafts
from services.gateway.adapters.store import Store
from services.gateway.service_layer.account_cache import AccountCache
from services.gateway.service_layer.captcha import Captchas
from services.gateway.service_layer.use_cases import UseCases


@dataclass
class Deps:
    pool: asyncpg.Pool
    store: Store  # sessions, CAPTCHA answers
    captchas: Captchas
    drafts: PaymentDrafts  # a guest's payment form between its steps, encrypted
    account_cache: AccountCache
    change_feed: ChangeFeed | None  # None: the account cache is off
    use_cases: UseCases
