"""payments.v1 a batch at a time (service_layer/payment_batch.py) against real PostgreSQL:
the same ledger, rows and events, in the same order per account, as one event at a time;
each account's events in its order; a poison event in the middle of a batch dead-lettered
alone while the others are applied."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timezone
from functools import partial

import orjson
from aiokafka import ConsumerRecord

from scripts.seed_demo import enrollment_event
from services.billing.app import MIGRATIONS, payment_handlers
from services.billing.domain.numbers import make_ban
from services.billing.service_layer import accounts, jobs
from services.billing.service_layer.payment_batch import apply_payment_events
from shared.consumer import IdempotentConsumer
from shared.contracts.envelope import Envelope
from shared.contracts.topics import ENROLLMENT_V1, PAYMENTS_V1, dlq_topic
from shared.db import create_pool, migrate
from tests.backbone.test_backbone import read_topic
from tests.billing.conftest import payment_event
from tests.conftest import unique
from tests.harness import database
from tests.helpers import DayClock


def records(events: Iterable[Envelope], topic: str = PAYMENTS_V1) -> list[ConsumerRecord]:
    """The events as the consumer reads them from Kafka (type headers as the relay writes)."""
    out = []
    for offset, e in enumerate(events):
        value = e.to_bytes()
        out.append(ConsumerRecord(topic=topic, partition=0, offset=offset, timestamp=0,
                                  timestamp_type=0, key=e.key.encode(), value=value,
                                  checksum=None, serialized_key_size=len(e.key),
                                  serialized_value_size=len(value), headers=tuple(e.headers())))
    return out


def one_by_one(pool, clock: DayClock) -> IdempotentConsumer:
    return IdempotentConsumer(pool, "test-one-by-one", None, handlers=payment_handlers(clock))


def batched(pool, clock: DayClock, alone: list | None = None) -> IdempotentConsumer:
    """As app.py subscribes billing's payments consumer; the events its batch handler hands
    to their one-by-one handler are added to `alone` (their account and type)."""
    handlers = payment_handlers(clock)
    if alone is not None:
        def noted(handler):
            async def one(conn, event):
                alone.append((event.data.billing_account_number, event.event_type))
                await handler(conn, event)
            return one
        handlers = {t: noted(h) for t, h in handlers.items()}
    return IdempotentConsumer(pool, "test-batched", None, event_types=list(handlers),
                              batch_handler=partial(apply_payment_events, handlers=handlers,
                                                    clock=clock))


def enrolled(n: int, coverage_start: date, premium_cents: int, aptc: bool = False) -> Envelope:
    return enrollment_event(
        enrollment_id=f"E-batch-{n}", household_id=f"HH-batch-{n}", plan_type="health",
        coverage_year=coverage_start.year, coverage_start=coverage_start, plan_name="Silver",
        carrier="Carrier", premium_cents=premium_cents, aptc=aptc,
        shopped_at=datetime(2026, 11, 1, tzinfo=timezone.utc), first_name="Ann",
        last_name="Lee", date_of_birth=date(1980, 1, 1), ssn=None, email="a@example.org",
        phone="6175550000")


# The accounts of the story, in the order they are opened (numbers 1, 2, ... in a fresh
# database): a binder due 2026-12-23 for coverage from 2027-01-01, except H (APTC, in
# grace when the batch comes) and T (terminated for non-payment, within its 35 days).
BINDERS = {"A": 400_00, "B": 300_00, "C": 200_00, "D": 300_00, "E": 100_00, "F": 100_00,
           "G": 100_00, "J": 300_00, "K": 100_00, "L": 100_00, "M": 100_00}
IN_FORCE = {"H": (150_00, True), "T": (120_00, False)}
BAN = {name: make_ban(i + 1) for i, name in enumerate([*BINDERS, *IN_FORCE])}


def enrollments_consumer(pool, clock: DayClock) -> IdempotentConsumer:
    on_enrollment = partial(accounts.on_enrollment, clock=clock)
    return IdempotentConsumer(pool, "test-enrollments", None,
                              handlers={"enrollment.created": on_enrollment})


async def seed(pool, clock: DayClock) -> None:
    """Open the accounts, put H in grace and terminate T."""
    clock.fix(date(2026, 11, 23))
    opened = [enrolled(n, date(2027, 1, 1), cents) for n, cents in enumerate(BINDERS.values(), 1)]
    opened += [enrolled(n, date(2026, 11, 1), cents, aptc)
               for n, (cents, aptc) in enumerate(IN_FORCE.values(), len(opened) + 1)]
    await enrollments_consumer(pool, clock).handle_records(records(opened, ENROLLMENT_V1))
    await jobs.delinquency(pool, date(2026, 11, 25))
    await jobs.delinquency(pool, date(2027, 1, 2))  # T's month of grace is over; H has 3
    status = dict(await pool.fetch("SELECT billing_account_number, status FROM delinquencies"))
    assert status == {BAN["H"]: "in_grace", BAN["T"]: "terminated"}, status
    await pool.execute("DELETE FROM outbox")


def story() -> tuple[list[Envelope], list[Envelope]]:
    """An earlier batch, then one batch of every kind of case interleaved."""
    def settled(name: str, pid: str, cents: int, **extra) -> Envelope:
        return payment_event("payment.settled", BAN[name], pid, cents, **extra)

    earlier = [payment_event("payment.returned", BAN["E"], "pay-E", 100_00),
               settled("G", "pay-G", 100_00), settled("K", "pay-K1", 150_00)]
    batch = [
        settled("A", "pay-A", 400_00),                                 # binder paid in full
        payment_event("payment.submitted", BAN["D"], "pay-D", 300_00),  # two events, in order
        settled("B", "pay-B", 100_00),                                 # part of the binder
        settled("F", "pay-F1", 60_00),
        settled("C", "pay-C", 250_00),                                 # more than owed: credit
        settled("E", "pay-E", 100_00),                                 # returned before: never credited
        settled("D", "pay-D", 300_00),
        settled("G", "pay-G", 100_00),                                 # settled again (new event id)
        settled("H", "pay-H", 150_00),                                 # ends H's grace period
        settled("F", "pay-F2", 40_00),
        settled("T", "pay-T", 120_00),                                 # reinstates T
        settled("J", "pay-J", 100_00, allocations=[{"coverage_year": 2027, "amount_cents": 50_00}]),
        settled("K", "pay-K2", 20_00),                                 # credit held already
        payment_event("payment.submitted", BAN["L"], "pay-L", 100_00),
        payment_event("payment.failed", BAN["M"], "pay-M", 100_00),
    ]
    return earlier, batch


async def state(pool) -> dict:
    """Everything the payments consumer writes, per account where it is ordered."""
    ledger: dict[str, list] = {}
    for r in await pool.fetch(
            """SELECT g.billing_account_number, g.kind, g.amount_cents, g.coverage_year,
                      g.coverage_month, g.payment_id, g.business_date, i.coverage_month AS invoice
               FROM ledger g LEFT JOIN invoices i ON i.invoice_id = g.invoice_id
               ORDER BY g.entry_id"""):
        ledger.setdefault(r[0], []).append(tuple(r))
    # Invoice ids are random: an event names an invoice by its account and month here.
    invoices = {str(r[0]): f"{r[1]} {r[2]:%Y-%m}" for r in await pool.fetch(
        "SELECT invoice_id, billing_account_number, coverage_month FROM invoices")}
    outbox: dict[str, list] = {}
    for r in await pool.fetch("SELECT key, payload FROM outbox ORDER BY id"):
        e = orjson.loads(r["payload"])
        data = {k: invoices[v] if k == "invoice_id" else v for k, v in e["data"].items()}
        outbox.setdefault(r["key"], []).append(
            (e["event_type"], data, e["correlation_id"], e["causation_id"]))
    tables = {name: [tuple(r) for r in await pool.fetch(sql)] for name, sql in {
        "invoices": """SELECT billing_account_number, coverage_year, coverage_month, kind,
                              amount_cents, paid_cents, due_date, issued_on, voided
                       FROM invoices ORDER BY 1, 2, 3""",
        "payments": """SELECT payment_id, billing_account_number, amount_cents, allocations::text,
                              submitted, settled, returned, failed, credited, return_code,
                              settled_on, submitted_on FROM payments ORDER BY 1""",
        "lines": "SELECT * FROM lines ORDER BY 1, 2",
        "delinquencies": "SELECT * FROM delinquencies ORDER BY 1",
        "processed": """SELECT event_id, dead_lettered FROM processed_events
                        WHERE consumer_group <> 'test-enrollments' ORDER BY 1""",
    }.items()}
    return {"ledger": ledger, "outbox": outbox, **tables}


async def run_story(infra, consumer_of, batches: list[tuple[date, list[Envelope]]]) -> dict:
    """In a fresh database, seeded: each batch applied on its business date by the consumer
    `consumer_of` makes; returns the state left."""
    async with database(infra) as dsn:
        pool = await create_pool(dsn)
        try:
            await migrate(pool, MIGRATIONS)
            clock = DayClock()
            await seed(pool, clock)
            consumer = consumer_of(pool, clock)
            for day, batch in batches:
                clock.fix(day)
                await consumer.handle_records(records(batch))
            return await state(pool)
        finally:
            await pool.close()


async def test_a_batch_books_and_announces_exactly_what_one_event_at_a_time_does(infra):
    earlier, batch = story()
    batches = [(date(2027, 1, 4), earlier), (date(2027, 1, 5), batch)]
    alone = await run_story(infra, one_by_one, batches)
    one_by_one_in_batch: list = []
    together = await run_story(infra, partial(batched, alone=one_by_one_in_batch), batches)
    for table in ("ledger", "invoices", "payments", "lines", "delinquencies", "processed"):
        assert together[table] == alone[table], table
    assert together["outbox"] == alone["outbox"]
    # The story is what it says: each case took the turn it names.
    out = together["outbox"]
    types = {name: [t for t, *_ in out.get(BAN[name], [])] for name in BAN}
    paid_off = ["payment.applied", "coverage.effectuated", "balance.changed"]
    part = ["payment.applied", "balance.changed"]
    assert types["A"] == types["C"] == types["G"] == paid_off  # G's second settlement adds nothing
    assert types["B"] == types["J"] == part
    assert types["F"] == part + paid_off and types["K"] == paid_off + part
    assert types["E"] == types["L"] == types["M"] == []
    assert "coverage.effectuated" in types["T"] and types["T"][-1] == "balance.changed"
    assert out[BAN["C"]][0][1]["credit_cents"] == 50_00
    assert out[BAN["K"]][-1][1]["total_balance_cents"] == -70_00  # 50 held, 20 more
    assert out[BAN["J"]][0][1]["allocations"] == [
        {"coverage_year": 2027, "coverage_month": "2027-01", "amount_cents": 100_00}]
    assert {r[0]: r[5] for r in together["delinquencies"]} == {
        BAN["H"]: "resolved", BAN["T"]: "reinstated"}
    # Only the unusual cases went one by one (the earlier batch's return among them).
    settled, submitted = "payment.settled", "payment.submitted"
    assert one_by_one_in_batch == [(BAN["E"], "payment.returned")] + [(BAN[n], t) for n, t in (
        ("D", submitted), ("F", settled), ("E", settled), ("D", settled), ("G", settled),
        ("H", settled), ("F", settled), ("T", settled), ("M", "payment.failed"))]


async def test_the_events_of_a_batch_come_out_per_account_in_order(infra):
    f, b = BAN["F"], BAN["B"]
    batch = [payment_event("payment.settled", f, "pay-F1", 30_00),
             payment_event("payment.settled", b, "pay-B1", 100_00),
             payment_event("payment.settled", f, "pay-F2", 30_00),
             payment_event("payment.settled", b, "pay-B2", 50_00),
             payment_event("payment.settled", f, "pay-F3", 40_00)]
    out = (await run_story(infra, batched, [(date(2027, 1, 5), batch)]))["outbox"]
    # F's three payments in their order, each with the balance it left; the last pays the
    # binder off and effectuates the coverage.
    assert [(t, d.get("payment_id"), d.get("total_balance_cents")) for t, d, *_ in out[f]] == [
        ("payment.applied", "pay-F1", 70_00), ("balance.changed", None, 70_00),
        ("payment.applied", "pay-F2", 40_00), ("balance.changed", None, 40_00),
        ("payment.applied", "pay-F3", 0), ("coverage.effectuated", None, None),
        ("balance.changed", None, 0)]
    assert [(t, d.get("payment_id"), d.get("total_balance_cents")) for t, d, *_ in out[b]] == [
        ("payment.applied", "pay-B1", 200_00), ("balance.changed", None, 200_00),
        ("payment.applied", "pay-B2", 150_00), ("balance.changed", None, 150_00)]
    # Every event is caused by its settlement, in the batch's order.
    causes = {str(e.event_id): e.data["payment_id"] for e in batch}
    assert [causes[c] for _, d, _, c in out[f] if "payment_id" in d] == ["pay-F1", "pay-F2", "pay-F3"]


async def test_a_poison_settlement_in_the_middle_of_a_batch_is_dead_lettered_alone(billing):
    billing.clock.fix(date(2026, 12, 1))
    bans = [await billing.enroll(household_id=unique("HH-"), coverage_start=date(2027, 1, 1),
                                 premium_cents=200_00) for _ in range(4)]
    unknown = make_ban(99_999_998)  # an account billing never opened
    good = [payment_event("payment.settled", ban, unique("pay-"), 200_00) for ban in bans]
    poison = payment_event("payment.settled", unknown, unique("pay-"), 200_00)
    batch = [*good[:2], poison, *good[2:]]
    spec = next(s for s in billing.service.consumers if s.group_id == billing.settings.payments_group)
    await spec.consumer.handle_records(records(batch))

    processed = dict(await billing.pool.fetch(
        """SELECT event_id, dead_lettered FROM processed_events
           WHERE consumer_group = $1 AND event_id = ANY($2::uuid[])""",
        spec.group_id, [e.event_id for e in batch]))
    assert processed == {**{e.event_id: False for e in good}, poison.event_id: True}
    for ban, e in zip(bans, good):
        assert await billing.balance(ban) == 0
        assert [a["payment_id"] for a in await billing.outbox(ban, "payment.applied")] == \
            [e.data["payment_id"]]
    dead = await read_topic(billing.infra.kafka_bootstrap, dlq_topic(spec.group_id), expect=1)
    assert [orjson.loads(dict(r.headers)["dlq_error"])["error_type"] for r in dead] == ["LookupError"]
    assert poison.data["payment_id"] in orjson.loads(dict(dead[0].headers)["dlq_error"])["error"]
