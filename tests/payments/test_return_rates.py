"""ACH return rates against Nacha's limits: seeded drafts and returns through the bank
sandbox cross the unauthorized-return line, operators are told once per crossing (event),
`/metrics` and the `return-rates` report show the same figures, and the window rolls."""
from __future__ import annotations

import asyncio
import os
import sys
from datetime import date
from pathlib import Path

from services.payments.domain import return_rates as rr
from services.payments.service_layer import ach, autopay
from tests.helpers import service_client
from tests.payments.conftest import bank_method, new_account, new_ban
from tests.payments.seed import seed_mandates

ROOT = Path(__file__).resolve().parents[2]
DRAFT_DAY, NEXT_DAY, THIRD_DAY = date(2026, 4, 22), date(2026, 4, 23), date(2026, 4, 24)


def test_the_lines_are_exact_at_their_boundaries():
    unauthorized, administrative, overall = rr.CATEGORIES
    # 0.5 %: 1 in 200 is at the limit, not over it; 1 in 199 is over. 80 % of it: 1 in 250.
    assert rr.Rate(unauthorized, 1, 200).level == "warning"
    assert rr.Rate(unauthorized, 1, 199).level == "over"
    assert rr.Rate(unauthorized, 1, 250).level == "warning"
    assert rr.Rate(unauthorized, 1, 251).level == "ok"
    assert rr.Rate(administrative, 3, 100).level == "warning"
    assert rr.Rate(administrative, 4, 100).level == "over"
    assert rr.Rate(overall, 12, 100).level == "warning" and rr.Rate(overall, 11, 100).level == "ok"
    assert rr.Rate(overall, 0, 0).level == "ok" and rr.Rate(overall, 0, 0).percent == "0.00"
    assert rr.Rate(unauthorized, 1, 240).percent == "0.42" and rr.Rate(unauthorized, 2, 3).percent == "66.67"
    by_code = {"R01": 5, "R10": 1, "R07": 1, "R03": 2, "R99": 1}
    assert [r.returns for r in rr.rates(by_code, 1000)] == [2, 2, 10]
    assert rr.window(date(2026, 3, 1)) == (date(2026, 1, 1), date(2026, 3, 1))
    assert rr.raised(None, "warning") and rr.raised("warning", "over")
    assert not rr.raised("over", "warning") and not rr.raised("warning", "warning")


async def _one_time(env, account: str) -> None:
    ban = new_ban()
    await env.open_account(ban, {2026: 5000})
    status, body = await env.pay({"billing_account_number": ban, "kind": "one_time",
                                  "amount": "total", "method": bank_method(account)})
    assert status == 201, body


async def _cli(env, day: date) -> tuple[int, str]:
    environ = {**os.environ, "PAYMENTS_DATABASE_URL": env.dsn, "PYTHONPATH": str(ROOT),
               "KAFKA_BOOTSTRAP": env.settings.kafka_bootstrap}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.payments.cli", "return-rates", "--date", day.isoformat(),
        cwd=ROOT, env=environ, stdout=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode()


async def test_unauthorized_returns_warn_then_cross_the_limit_once_each(payments_env):
    env = payments_env
    env.clock.set(DRAFT_DAY)
    # 239 autopay drafts that the bank pays, and one guest payment it returns R10.
    await seed_mandates(env.pool, env.deps.cipher, 239)
    assert (await autopay.run_autopay(env.deps, DRAFT_DAY))["drafted"] == 239
    await _one_time(env, new_account("10"))
    assert (await ach.run_cutoff(env.deps, DRAFT_DAY))["entries"] == 240
    env.bank.poll_once()

    summary = await ach.run_returns(env.deps, NEXT_DAY)
    assert summary["return_rates"] == {"unauthorized": "warning", "administrative": "ok", "overall": "ok"}
    [warning] = await env.events("return_rate.alert")
    assert warning == {"category": "unauthorized", "level": "warning", "returns": 1, "entries": 240,
                       "rate_percent": "0.42", "limit_percent": "0.50",
                       "return_codes": ["R05", "R07", "R10", "R11", "R29", "R51"],
                       "window_start": "2026-02-23", "window_end": "2026-04-23"}
    # Reading the returns again the same day announces nothing more.
    await ach.run_returns(env.deps, NEXT_DAY)
    assert len(await env.events("return_rate.alert")) == 1

    # The next day a member revokes an authorization (R07): 2 of 241 is over 0.5 %.
    env.clock.set(NEXT_DAY)
    await _one_time(env, new_account("07"))
    assert (await ach.run_cutoff(env.deps, NEXT_DAY))["entries"] == 1
    env.bank.poll_once()
    assert (await ach.run_returns(env.deps, THIRD_DAY))["return_rates"]["unauthorized"] == "over"
    alerts = await env.events("return_rate.alert")
    assert [(a["level"], a["returns"], a["entries"], a["rate_percent"]) for a in alerts] == [
        ("warning", 1, 240, "0.42"), ("over", 2, 241, "0.83")]
    # An older day's intake run again does not move the levels back, nor announce anything.
    await ach.run_returns(env.deps, NEXT_DAY)
    assert len(await env.events("return_rate.alert")) == 2

    # Prometheus sees the same figures (the alert rules compare them with the limits).
    scraper = service_client(env.service, caller="metrics")
    await scraper.start_server()
    try:
        text = await (await scraper.get("/metrics")).text()
    finally:
        await scraper.close()
    gauges = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines()
              if line.startswith("payments_ach_return_rate")}
    assert gauges['payments_ach_return_rate{category="unauthorized"}'] == 2 / 241
    assert gauges['payments_ach_return_rate_limit{category="unauthorized"}'] == 0.005
    assert gauges['payments_ach_return_rate{category="administrative"}'] == 0.0

    # The operator's report: over the limit is exit status 1.
    status, out = await _cli(env, THIRD_DAY)
    assert status == 1, out
    assert "60 days 2026-02-24 to 2026-04-24: 241 debit entries originated" in out
    [line] = [ln for ln in out.splitlines() if "unauthorized" in ln]
    assert line.split()[-6:] == ["2", "returns", "0.83%", "limit", "0.50%", "OVER"], line
    # Sixty days after the drafts the window has let them all go.
    status, out = await _cli(env, date(2026, 6, 25))
    assert status == 0 and ": 0 debit entries originated" in out, out
