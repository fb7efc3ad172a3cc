"""The operator commands of every service's CLI, run as an operator would against the
running stack (`python -m services.<name>.cli ...` with the stack's settings)."""
from __future__ import annotations

import re

import pytest


@pytest.mark.parametrize("service", ["identity", "billing", "payments", "notify"])
async def test_status_shows_outbox_lag_and_dead_letters_of_each_group(stack, service):
    out = stack.run_cli(service, "status")
    assert out.splitlines()[0] == f"{service}: status"
    assert re.search(r"^  outbox: \d+ event\(s\) not yet published", out, re.M), out
    groups = re.findall(rf"^  group ({service}\.[a-z.-]+): lag (\d+), (\d+) dead letter\(s\) on dlq\.\1$", out, re.M)
    assert groups, out
    partitions = re.findall(r"^    (\S+)\[(\d+)\] committed (\d+|None) end (\d+) lag (\d+)$", out, re.M)
    assert len(partitions) >= 6, out  # every topic has 6 partitions
    for _, _, committed, end, lag in partitions:
        assert int(lag) == int(end) - int(committed if committed != "None" else 0)
