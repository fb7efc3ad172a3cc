"""The ACH return rates of the last 60 days against the Nacha limits
(services/payments/domain/return_rates.py): measured after each return intake, an operator
alert (`return_rate.alert` on payments.v1) when a rate reaches 80 % of its limit or crosses
it, the figures for `/metrics`, and the `return-rates` report."""
from __future__ import annotations

from collections.abc import Callable
from datetime import date

import asyncpg
from prometheus_client import Gauge

from services.payments.adapters import ach_store
from services.payments.domain import return_rates as rr
from shared.contracts import payments as ev
from shared.outbox import enqueue

ALERT_KEY = "return-rates"
Progress = Callable[[str], None]

RATE = Gauge("payments_ach_return_rate",
             "ACH return rate over the last 60 days at the last return intake "
             "(returns / debit entries), by Nacha category", ["category"])
LIMIT = Gauge("payments_ach_return_rate_limit",
              "Nacha's limit for each ACH return rate category (a ratio)", ["category"])
for _c in rr.CATEGORIES:
    LIMIT.labels(_c.name).set(_c.limit_basis_points / 10_000)


async def measure(conn: asyncpg.Connection, day: date) -> list[rr.Rate]:
    start, end = rr.window(day)
    return rr.rates(await ach_store.returns_received(conn, start, end),
                    await ach_store.debit_entries_originated(conn, start, end))


def _alert(rate: rr.Rate, day: date) -> ev.ReturnRateAlertData:
    start, end = rr.window(day)
    level = rate.level
    assert level != "ok"
    return ev.ReturnRateAlertData(
        category=rate.category.name,  # type: ignore[arg-type]
        level=level, returns=rate.returns, entries=rate.entries,
        rate_percent=rate.percent, limit_percent=rate.limit_percent,
        return_codes=sorted(rate.category.codes or ()),
        window_start=start.isoformat(), window_end=end.isoformat())


async def evaluate(pool: asyncpg.Pool, day: date, progress: Progress = lambda _: None) -> list[rr.Rate]:
    """Measure the window ending on `day`, record each category's level and announce the
    ones that rose. A date older than the one recorded changes nothing (re-running an old
    day's intake does not move today's levels back); the same date twice announces
    nothing new."""
    async with pool.acquire() as conn, conn.transaction():
        await ach_store.lock_return_rates(conn)
        known = await ach_store.return_rate_levels(conn)
        if any(r["business_date"] > day for r in known.values()):
            progress(f"return rates: already measured for a later date; {day} changes nothing")
            return await measure(conn, day)
        measured = await measure(conn, day)
        alerts: list[ev.ReturnRateAlertData] = []
        for rate in measured:
            before = known.get(rate.category.name)
            if rr.raised(before["level"] if before else None, rate.level):
                alerts.append(_alert(rate, day))
            await ach_store.save_return_rate_level(conn, rate.category.name, rate.level, day,
                                                   rate.returns, rate.entries)
        if alerts:
            await enqueue(conn, *alerts, key=ALERT_KEY)
    for rate in measured:
        progress(f"  return rate {rate.category.name}: {rate.returns}/{rate.entries} = "
                 f"{rate.percent}% (limit {rate.limit_percent}%) {rate.level.upper()}")
    return measured


async def scrape(pool: asyncpg.Pool) -> None:
    """Sets the rate gauges from the last measurement (any replica answers the same)."""
    for category, r in (await ach_store.return_rate_levels(pool)).items():
        RATE.labels(category).set(r["returns"] / r["entries"] if r["entries"] else 0.0)


def report(rates: list[rr.Rate], day: date) -> list[str]:
    start, end = rr.window(day)
    entries = rates[0].entries if rates else 0
    lines = [f"ACH return rates, 60 days {start} to {end}: {entries:,} debit entries originated"]
    for rate in rates:
        lines.append(f"  {rate.category.label:<40} {rate.returns:>7,} returns  {rate.percent:>6}%"
                     f"  limit {rate.limit_percent:>5}%  {rate.level.upper()}")
    return lines
