"""The jobs as operators run them (the command line, twice for one date), the binder
deadline, and every event billing writes checked against docs/events.md's shapes."""
from __future__ import annotations

import asyncio
import os
import sys
from datetime import date

import orjson

from services.billing.service_layer import jobs
from shared.contracts.envelope import Envelope, wire_time
from shared.contracts.registry import PAYLOADS
from shared.contracts.topics import BILLING_V1
from tests.conftest import ROOT, unique


async def cli(billing, *args: str) -> tuple[int, str]:
    env = {**os.environ, "BILLING_DATABASE_URL": billing.service.settings.database_url,
           "KAFKA_BOOTSTRAP": billing.infra.kafka_bootstrap}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.billing.cli", *args, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    return proc.returncode, out.decode()


async def test_the_cycle_from_the_command_line_runs_once_per_month_and_reconcile_exits_1(billing):
    billing.clock.fix(date(2026, 12, 1))
    bans = [await billing.enroll(household_id=unique("HH-"), coverage_start=date(2027, 1, 1),
                                 premium_cents=150_00 + n) for n in range(3)]
    code, out = await cli(billing, "invoice-cycle", "--date", "2027-01-06")
    assert code == 0, out
    assert "invoice-cycle 2027-01-06: " in out and "invoices issued for 2027-02" in out
    code, out = await cli(billing, "invoice-cycle", "--date", "2027-01-06")  # the same date again
    assert code == 0, out
    await jobs.invoice_cycle(billing.pool, date(2027, 1, 20))  # a later day of the same month
    for ban in bans:
        assert await billing.months(ban) == ["2027-01", "2027-02"]
    for n, ban in enumerate(bans):
        assert await billing.balance(ban) == 2 * (150_00 + n)
    assert await jobs.reconcile(billing.pool) == []
    # Someone books a payment entry that no payment backs: reconcile names the account.
    await billing.pool.execute(
        """INSERT INTO ledger (billing_account_number, coverage_year, coverage_month, invoice_id,
                               kind, amount_cents)
           SELECT billing_account_number, coverage_year, coverage_month, invoice_id, 'payment', -1
           FROM invoices WHERE billing_account_number = $1 LIMIT 1""", bans[1])
    # And an adjustment on a coverage year with no invoice behind it.
    await billing.pool.execute(
        """INSERT INTO ledger (billing_account_number, coverage_year, kind, amount_cents)
           VALUES ($1, 2027, 'adjustment', -500)""", bans[2])
    code, out = await cli(billing, "reconcile")
    assert code == 1, out
    assert bans[1] in out and bans[2] in out and bans[0] not in out and "problems" in out
    assert "1 ledger entries (-500 cents) on no invoice of their year" in out


async def test_an_unpaid_binder_means_coverage_never_starts_and_nothing_is_owed(billing):
    billing.clock.fix(date(2026, 11, 10))
    unpaid = await billing.enroll(household_id=unique("HH-"), coverage_start=date(2027, 1, 1),
                                  premium_cents=210_00)
    paid = await billing.enroll(household_id=unique("HH-"), coverage_start=date(2027, 1, 1),
                                premium_cents=210_00)
    settled = await billing.publish_payment("payment.settled", paid, unique("pay-"), 210_00,
                                            settled_on="2026-12-22")
    billing.clock.fix(date(2026, 12, 22))
    await billing.applied(settled)
    # On the due date itself nothing happens; the day after, the unpaid one is cancelled.
    await jobs.binder_deadline(billing.pool, date(2026, 12, 23))
    assert await billing.outbox(unpaid, "coverage.terminated") == []
    billing.clock.fix(date(2026, 12, 24))
    await jobs.binder_deadline(billing.pool, date(2026, 12, 24))
    await jobs.binder_deadline(billing.pool, date(2026, 12, 24))
    ended = await billing.outbox(unpaid, "coverage.terminated")
    assert [(e["reason"], e["effective_date"]) for e in ended] == [("binder_unpaid", "2027-01-01")]
    assert await billing.outbox(paid, "coverage.terminated") == []
    assert [e["coverage_start"] for e in await billing.outbox(paid, "coverage.effectuated")] == ["2027-01-01"]
    s = await billing.summary(unpaid)
    assert s["total_balance_cents"] == 0 and s["lines"][0]["status"] == "cancelled"
    assert (await billing.outbox(unpaid, "balance.changed"))[-1]["total_balance_cents"] == 0
    invoices = (await (await billing.client.get(f"/accounts/{unpaid}/invoices")).json())["invoices"]
    assert [i["status"] for i in invoices] == ["void"]
    # No monthly bill follows for the cancelled enrollment; the paid one is billed.
    await jobs.invoice_cycle(billing.pool, date(2027, 1, 5))
    assert await billing.months(unpaid) == ["2027-01"] and await billing.months(paid) == ["2027-01", "2027-02"]
    assert await billing.balance(unpaid) == 0 and await billing.balance(paid) == 210_00
    assert await jobs.reconcile(billing.pool) == []


async def test_every_event_billing_writes_has_the_documented_shape(billing):
    """Events built in Python and those the invoice cycle builds in SQL alike."""
    billing.clock.fix(date(2026, 12, 1))
    household = unique("HH-")
    ban = await billing.enroll(household_id=household, coverage_start=date(2027, 1, 1),
                               premium_cents=99_99, aptc=True)
    dental = await billing.enroll(household_id=household, coverage_start=date(2027, 1, 1),
                                  premium_cents=20_00, plan_type="dental")
    assert dental != ban
    pid = unique("pay-")
    await billing.applied(await billing.publish_payment("payment.settled", ban, pid, 150_00))
    await jobs.invoice_cycle(billing.pool, date(2027, 1, 5))  # ban holds credit: careful path
    await jobs.invoice_cycle(billing.pool, date(2027, 2, 5))  # both: the SQL path
    await billing.applied(await billing.publish_payment("payment.returned", ban, pid, 150_00))
    for day in (date(2027, 2, 24), date(2027, 3, 24), date(2027, 4, 24), date(2027, 5, 2)):
        billing.clock.fix(day)
        await jobs.delinquency(billing.pool, day)
    # Every event on billing's topic about an account of this billing service (the topic is
    # shared with whoever else uses this Kafka), as a subscriber receives it.
    await billing.tap.settled(billing.pool)
    ours = {r[0] for r in await billing.pool.fetch("SELECT billing_account_number FROM accounts")}
    assert {ban, dental} <= ours
    seen = set()
    for record in billing.tap.records():
        envelope = Envelope.from_bytes(record.value)
        if record.key not in ours and envelope.data.get("billing_account_number") not in ours:
            continue
        assert record.topic == BILLING_V1
        assert envelope.key == record.key == envelope.data["billing_account_number"]
        assert record.headers["event_type"].decode() == envelope.event_type
        assert record.headers["event_id"].decode() == str(envelope.event_id)
        assert envelope.producer == "billing"
        PAYLOADS[envelope.event_type].model_validate(envelope.data)  # strictly: no unknown field
        # Every path (the cycle's SQL too) writes the envelope Envelope.of writes: the same
        # fields, a UUIDv7 id, the time as envelopes carry it.
        raw = orjson.loads(record.value)
        assert list(raw) == list(Envelope.model_fields)
        assert envelope.event_id.version == 7 and raw["occurred_at"] == wire_time(envelope.occurred_at)
        seen.add(envelope.event_type)
    assert seen >= {"account.opened", "invoice.issued", "balance.changed", "payment.applied",
                    "payment.reversed", "account.delinquent", "coverage.effectuated",
                    "coverage.terminated"}
    # The cycle's SQL-built balance matches the account summary to the cent.
    last = (await billing.outbox(dental, "balance.changed"))[-1]
    s = await billing.summary(dental)
    assert last["total_balance_cents"] == s["total_balance_cents"] == 60_00
    assert last["lines"] == [{"coverage_year": 2027, "balance_cents": 60_00,
                              "current_premium_cents": 20_00, "due_date": "2026-12-23",
                              "binder": True}]  # the binder is still owed
    assert s["lines"][0]["binder"] is True


async def test_the_scheduler_runs_each_daily_job_once_for_the_business_date(infra, fresh_db,
                                                                             monkeypatch):
    from services.billing.app import build_service
    from services.billing.config import Settings
    from tests.billing.conftest import wait_for
    from tests.helpers import DayClock

    runs: list[str] = []
    for name in ("invoice_cycle", "binder_deadline", "delinquency"):
        def counted(real, name):
            async def run(pool, day, *args):
                runs.append(name)
                return await real(pool, day, *args)
            return run
        monkeypatch.setattr(jobs, name, counted(getattr(jobs, name), name))
    clock = DayClock()
    clock.fix(date(2027, 3, 4))
    settings = Settings(database_url=fresh_db, KAFKA_BOOTSTRAP=infra.kafka_bootstrap,
                        run_scheduler=True, run_consumers=False, run_relay=False,
                        scheduler_poll_s=0.2)
    service = build_service(settings, clock=clock)
    await service.start(http=False)
    try:
        async def ran():
            rows = await service.pool.fetch(
                "SELECT job FROM job_runs WHERE business_date = '2027-03-04' ORDER BY job")
            return [r["job"] for r in rows] == ["binder-deadline", "delinquency", "invoice-cycle"]
        await wait_for(ran, what="the daily jobs")
        await asyncio.sleep(0.8)  # a few more polls: no job runs a second time for the date
        assert sorted(runs) == ["binder_deadline", "delinquency", "invoice_cycle"]
        summary = await service.pool.fetchval(
            "SELECT summary FROM job_runs WHERE job = 'invoice-cycle'")
        assert summary["coverage_month"] == "2027-04-01"
    finally:
        await service.stop()
