"""A running payments service for the tests of this folder, against the real Kafka and
PostgreSQL, with the card sandbox on an aiohttp test server and the bank sandbox used as a
library on temporary ACH folders. One per test module: a fresh database, a consumer group
of its own started at the end of billing.v1, and a clock the tests can move."""
from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from sandboxes.bank import Bank
from sandboxes.card import CardProcessorSandbox
from sandboxes.card import build_routes as card_routes
from services.payments.app import build_service
from services.payments.config import Settings
from shared.calendar import NEW_YORK
from shared.contracts import topics
from shared.contracts.envelope import Envelope
from shared.contracts.registry import PAYLOADS
from shared.kafka import ensure_topics
from shared.numbers import make_ban
from shared.runtime import Service
from tests.harness import ServiceEnv, database, running_service, sandbox_server, start_group_at_end
from tests.helpers import wait_for

ROUTING = "011000015"      # passes the ABA check digit
ROUTING_2 = "021000021"


def bank_method(account: str, kind: str = "checking", routing: str = ROUTING) -> dict[str, str]:
    return {"type": kind, "account_holder_name": "Maria Santos", "account_number": account,
            "account_number_confirmation": account, "routing_number": routing,
            "routing_number_confirmation": routing}


def card_method(number: str = "4242424242424242", year: int = 2031) -> dict[str, Any]:
    return {"type": "card", "cardholder_name": "Maria Santos", "card_number": number,
            "expiry_month": 12, "expiry_year": year, "cvv": "123" if len(number) == 16 else "1234",
            "postal_code": "02108"}


CONTACT = {"email": "maria@example.org", "email_confirmation": "maria@example.org",
           "phone": "+16175550100"}


def new_ban() -> str:
    """A random billing account number with its check digit, as billing makes them."""
    return make_ban(1 + secrets.randbelow(10**8 - 1))


def new_account(tail: str = "") -> str:
    """A random 12-digit account number ending in `tail` (the bank sandbox's rules)."""
    base = str(uuid.uuid4().int)[:12]
    return base[: 12 - len(tail)] + tail


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime(2026, 3, 2, 10, 0, tzinfo=NEW_YORK))

    def __call__(self) -> datetime:
        return self.now

    def set(self, day: date, hour: int = 10) -> None:
        self.now = datetime(day.year, day.month, day.day, hour, 0, tzinfo=NEW_YORK)


@dataclass
class PaymentsEnv(ServiceEnv):
    card: CardProcessorSandbox
    bank: Bank
    clock: Clock
    dsn: str

    @property
    def deps(self):
        return self.service.deps

    async def open_account(self, ban: str, lines: dict[int, int], plan_type: str = "health", *,
                           due: date | None = None, binder: bool = False) -> None:
        """Billing opens the account and announces its balance (each line due `due`, else
        January 23rd of its year; `binder`: the binder is what is owed); waits for the
        projection."""
        years = sorted(lines)
        await self.publish(
            Envelope(event_type="account.opened", producer="billing", key=ban, data={
                "billing_account_number": ban, "household_id": "H" + ban, "plan_type": plan_type,
                "enrollment_ids": ["E" + ban], "coverage_years": years, "aptc": False}),
            Envelope(event_type="balance.changed", producer="billing", key=ban, data={
                "billing_account_number": ban, "plan_type": plan_type,
                "total_balance_cents": sum(lines.values()), "reason": "invoice",
                "lines": [{"coverage_year": y, "balance_cents": c, "current_premium_cents": c,
                           "due_date": (due or date(y, 1, 23)).isoformat(), "binder": binder}
                          for y, c in lines.items()]}))
        total = sum(lines.values())

        async def ready() -> bool:
            r = await self.client.get(f"/accounts/{ban}/owed")
            return r.status == 200 and (await r.json())["total_balance_cents"] == total
        await wait_for(ready, what=f"projection of {ban}")

    async def pay(self, body: dict[str, Any], key: str | None = None) -> tuple[int, dict]:
        r = await self.client.post("/payments", json={"idempotency_key": key or uuid.uuid4().hex,
                                                      "channel": "guest", "contact": CONTACT, **body})
        return r.status, await r.json()

    async def events(self, event_type: str, ban: str | None = None) -> list[dict[str, Any]]:
        """The data of the events of a type payments published (for one account if given:
        in the order it wrote them), read from payments.v1 once all it committed so far is
        there; each validated against its contract model."""
        await self.tap.settled(self.pool)
        out = []
        for e in self.tap.events(event_type, key=ban):
            PAYLOADS[event_type].model_validate(e.data)
            out.append(e.data)
        return out

    def outbound_dir(self) -> Path:
        return Path(self.settings.ach_outbound_dir)


@pytest.fixture(scope="module")
async def payments_env(infra, tmp_path_factory, request):
    group = f"payments.test.{uuid.uuid4().hex[:8]}"
    await ensure_topics(infra.kafka_bootstrap)
    await start_group_at_end(infra.kafka_bootstrap, group, [topics.BILLING_V1])
    card = CardProcessorSandbox()
    root = tmp_path_factory.mktemp("ach")
    clock = Clock()

    async def use_clock(service: Service) -> None:
        service.deps.clock = clock

    async with database(infra, "t_payments_") as dsn, sandbox_server(card_routes(card)) as card_server:
        settings = Settings(
            database_url=dsn, kafka_bootstrap=infra.kafka_bootstrap, app_env="test",
            consumer_group=group, card_processor_url=str(card_server.make_url("/card")),
            cards_enabled=True, ach_outbound_dir=root / "outbound", ach_returns_dir=root / "returns",
            run_scheduler=False, db_pool_max=20,
            # Account validation holds a new account's first debits: the modules that test it
            # say which method (ACCOUNT_VALIDATION); the others test the debits themselves.
            account_validation=getattr(request.module, "ACCOUNT_VALIDATION", "none"))
        # The tests call payments as its one real caller does: the gateway.
        async with running_service(infra, settings, build_service, caller="gateway",
                                   prepare=use_clock) as env:
            yield PaymentsEnv.of(env, card=card, bank=Bank(root / "outbound", root / "returns", None),
                                 clock=clock, dsn=dsn)
