"""The on-demand job: `python -m services.identity.cli purge-throttle --date D`."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timezone

from tests.conftest import ROOT


def run_cli(env, day: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "services.identity.cli", "purge-throttle", "--date", day],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT), "IDENTITY_DATABASE_URL": env.settings.database_url})
    assert result.returncode == 0, result.stderr
    return result.stdout


async def test_purge_throttle_forgets_old_windows_once_and_keeps_current_ones(env):
    await env.pool.execute(
        """INSERT INTO throttle_counters (scope, subject, window_start, hits) VALUES
           ('lookup_ip', '\\x01', '2026-01-01 10:00+00', 3), ('lookup_ip', '\\x02', '2026-01-02 04:59+00', 1),
           ('lookup_ip', '\\x03', '2026-01-02 05:00+00', 1)""")
    now_row = await env.client.post("/lookups", json={"plan_type": "health", "id_type": "enrollment_id",
                                                      "id_value": "3399999999", "first_name": "Ana",
                                                      "last_name": "Rivera", "date_of_birth": "1978-11-30",
                                                      "client_ip": "198.51.100.7"})
    assert now_row.status == 404
    before = await env.pool.fetchval("SELECT count(*) FROM throttle_counters")
    first = run_cli(env, "2026-01-02")   # midnight in New York = 05:00 UTC
    assert "2 counter rows deleted" in first
    assert "0 counter rows deleted" in run_cli(env, "2026-01-02")
    assert await env.pool.fetchval("SELECT count(*) FROM throttle_counters") == before - 2
    assert await env.pool.fetchval(
        "SELECT count(*) FROM throttle_counters WHERE window_start >= $1",
        datetime(2026, 1, 2, 5, tzinfo=timezone.utc)) == before - 2
