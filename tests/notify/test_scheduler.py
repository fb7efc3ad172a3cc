"""Two notify replicas with the reminder scheduler on, on one database: each business
date's reminders are run once between them (yesterday's caught up too), never before the
reminder hour, and a restarted replica does not run a done date again."""
from __future__ import annotations

import asyncio
from datetime import date

import services.notify.app as notify_app
from services.notify.app import build_service
from services.notify.config import Settings
from tests.helpers import DayClock, wait_for

TODAY = date(2027, 3, 4)
YESTERDAY = date(2027, 3, 3)


async def test_two_replicas_run_each_days_reminders_once(infra, fresh_db, monkeypatch):
    runs: list[date] = []
    real = notify_app.run_reminders

    async def counted(pool, composer, day, days_before):
        runs.append(day)
        await asyncio.sleep(0.2)  # the other replica looks meanwhile
        return await real(pool, composer, day, days_before)
    monkeypatch.setattr(notify_app, "run_reminders", counted)
    monkeypatch.setattr(notify_app, "REMINDER_POLL_S", 0.1)
    clock = DayClock(TODAY, hour=8)  # before the reminder hour
    settings = Settings(database_url=fresh_db, kafka_bootstrap=infra.kafka_bootstrap, app_env="test",
                        run_scheduler=True, run_sender=False, run_consumers=False, run_relay=False,
                        reminder_hour=9, public_url="https://portal.example.org")
    replicas = [build_service(settings, clock=clock) for _ in range(2)]
    await asyncio.gather(*(r.start(http=False) for r in replicas))
    pool = replicas[0].pool
    try:
        await asyncio.sleep(0.5)
        assert runs == []
        clock.fix(TODAY, hour=9)

        async def done() -> bool:
            return await pool.fetchval(
                "SELECT count(*) = 2 FROM daily_runs WHERE name = 'notify-reminders'")
        await wait_for(done, what="the reminders of yesterday and today")
        await asyncio.sleep(0.6)  # more polls of each replica: nothing runs again
        assert runs == [YESTERDAY, TODAY]
        recorded = await pool.fetch("SELECT business_date FROM job_runs WHERE job = 'reminders' ORDER BY 1")
        assert [r[0] for r in recorded] == [YESTERDAY, TODAY]
    finally:
        await asyncio.gather(*(r.stop() for r in replicas))
    restarted = build_service(settings, clock=clock)
    await restarted.start(http=False)
    try:
        await asyncio.sleep(0.5)
        assert runs == [YESTERDAY, TODAY]
    finally:
        await restarted.stop()
