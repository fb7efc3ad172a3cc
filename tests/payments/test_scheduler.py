"""Two payments replicas with the scheduler on, on one database: the day's jobs (returns,
settlement, autopay, cutoff) run once per business date between them, only after the ACH
cutoff hour, and a restarted replica does not run a done date again."""
from __future__ import annotations

import asyncio
from datetime import date

from services.payments.app import build_service
from services.payments.config import Settings
from services.payments.entrypoints import scheduler
from tests.helpers import DayClock

DAY = date(2026, 7, 22)  # a banking day and the autopay draft day


def _scheduled(infra, db: str, tmp_path, **overrides) -> Settings:
    """A replica's settings with only its scheduler running (no consumers, no relay)."""
    return Settings(database_url=db, kafka_bootstrap=infra.kafka_bootstrap, app_env="test",
                    card_processor_url="http://127.0.0.1:9/card", ach_outbound_dir=tmp_path / "out",
                    ach_returns_dir=tmp_path / "returns", run_scheduler=True, run_consumers=False,
                    run_relay=False, scheduler_poll_s=0.1, **overrides)


async def test_two_replicas_run_the_days_jobs_once_per_business_date(infra, fresh_db, tmp_path,
                                                                      monkeypatch):
    runs: list[date] = []
    real = scheduler.run_day

    async def counted(svc, day):
        runs.append(day)
        await asyncio.sleep(0.2)  # the other replica polls meanwhile
        await real(svc, day)
    monkeypatch.setattr(scheduler, "run_day", counted)
    clock = DayClock(DAY, hour=16)  # before the 17:00 cutoff
    settings = _scheduled(infra, fresh_db, tmp_path, ach_cutoff_hour=17)
    replicas = [build_service(settings, clock=clock) for _ in range(2)]
    await asyncio.gather(*(r.start(http=False) for r in replicas))
    pool = replicas[0].pool
    try:
        await asyncio.sleep(0.5)
        assert runs == []
        clock.fix(DAY, hour=17)
        await asyncio.sleep(1.0)  # ten polls of each replica
        assert runs == [DAY]
        assert await pool.fetchval("SELECT count(*) FROM daily_runs WHERE name = 'payments-daily'") == 1
        assert await pool.fetchval(
            "SELECT summary->>'drafted' FROM job_runs WHERE job = 'autopay' AND business_date = $1",
            DAY) == "0"
    finally:
        await asyncio.gather(*(r.stop() for r in replicas))
    restarted = build_service(settings, clock=clock)
    await restarted.start(http=False)
    try:
        await asyncio.sleep(0.5)
        assert runs == [DAY]  # the database says the day is done
        clock.fix(date(2026, 7, 23), hour=18)
        await asyncio.sleep(0.5)
        assert runs == [DAY, date(2026, 7, 23)]
    finally:
        await restarted.stop()


async def test_each_same_day_window_runs_once_per_banking_day_at_its_time(infra, fresh_db, tmp_path,
                                                                          monkeypatch):
    runs: list[tuple[date, int]] = []
    real = scheduler.ach.run_same_day

    async def counted(deps, day, window, progress):
        runs.append((day, window))
        await asyncio.sleep(0.2)  # the other replica polls meanwhile
        return await real(deps, day, window, progress)
    monkeypatch.setattr(scheduler.ach, "run_same_day", counted)
    clock = DayClock(DAY, hour=9)
    settings = _scheduled(infra, fresh_db, tmp_path, ach_same_day_windows="10:00,14:15")
    replicas = [build_service(settings, clock=clock) for _ in range(2)]
    await asyncio.gather(*(r.start(http=False) for r in replicas))
    pool = replicas[0].pool
    try:
        await asyncio.sleep(0.5)
        assert runs == []  # 09:00: no window yet
        clock.fix(DAY, hour=10)
        await asyncio.sleep(1.0)
        assert runs == [(DAY, 1)]  # window 1 once between the replicas; window 2 at 14:15
        clock.fix(DAY, hour=15)
        await asyncio.sleep(1.0)
        assert runs == [(DAY, 1), (DAY, 2)]
        assert await pool.fetchval("SELECT count(*) FROM daily_runs WHERE name LIKE 'payments-same-day-%'") == 2
        clock.fix(date(2026, 7, 25), hour=15)  # a Saturday: no same-day files
        await asyncio.sleep(0.5)
        assert runs == [(DAY, 1), (DAY, 2)]
    finally:
        await asyncio.gather(*(r.stop() for r in replicas))
