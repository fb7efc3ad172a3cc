"""The reduced chaos run (bench/chaos.py --small) as an auditor reads it: its own servers
(the three-node Kafka, a PostgreSQL, two replicas of every service), faults while requests
are in flight, then the table and the verdict. Its ports move with TEST_PORT_SHIFT."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.chaos
ROOT = Path(__file__).resolve().parents[2]
SHIFT = int(os.environ.get("TEST_PORT_SHIFT", "0"))


def table(output: str) -> dict[str, str]:
    """The audit table's rows: label -> value as printed."""
    rows = {}
    for line in output.splitlines():
        m = re.match(r"^  \s*(\S.*?)\s{2,}(\S.*?)(\s+<- expected .*)?$", line)
        if m and not line.startswith("  - "):
            rows[m.group(1).strip()] = m.group(2).strip()
    return rows


def test_the_reduced_chaos_run_audits_every_payment_exactly_once():
    # Ports 31025-31097 and 31432 moved by TEST_PORT_SHIFT (apart from a manual run, and below
    # the ephemeral ports from 32768), state under .state/chaos-test (wiped first).
    done = subprocess.run([sys.executable, "bench/chaos.py", "--seed", "7", "--small",
                           "--name", "chaos-test", "--port-shift", str(SHIFT + 1000)],
                          cwd=ROOT, capture_output=True, text=True, timeout=16 * 60)
    out = done.stdout
    verdict = [line for line in out.splitlines() if line.startswith("VERDICT:")]
    assert verdict and verdict[0].startswith("VERDICT: PASS"), out[-6000:] + done.stderr[-3000:]
    assert done.returncode == 0
    rows = table(out)
    asked = int(rows["one-time payments asked"])
    mandates = int(rows["autopay set-ups asked"])
    assert asked > 0 and mandates > 0
    assert rows["confirmed (distinct confirmation numbers)"] == str(asked)
    assert rows["payment rows, not retries (payments)"] == str(asked)
    assert rows["confirmed (distinct AUT- numbers)"] == rows["drafts (payment rows of a mandate)"] == str(mandates)
    # One R01 payment, presented three times (two retries), returned each time, never credited.
    assert rows["R01 retries (payment rows)"] == "2"
    total = asked + mandates + 2
    assert rows["payment rows in all"] == rows["NACHA entries (outbound files)"] == str(total)
    assert rows["payment.returned events (distinct ids / records)"] == "3 / 3"
    assert rows["payment.settled events (distinct ids / records)"] == f"{total - 3} / {total - 3}"
    assert rows["billing: payments credited (distinct in ledger)"] == str(total - 3)
    assert rows["billing: returned payments credited"] == "0"
    assert rows["ACH files / .part files left"].endswith("/ 0")
    sent, received = rows["emails: notify sent / distinct Message-IDs received"].split(" / ")
    assert sent == received and int(sent) > 0
    assert rows["people with an email (payers, mandate holders)"] == str(asked + mandates)
    for label in ("outbox rows left (all services)", "consumer lag (all groups)", "dead letters"):
        assert rows[label] == "0", label
    assert rows["billing reconcile"] == "clean"
    _, _, _, replayed = rows["client tries / failed while a fault lasted / failed otherwise / replayed"].split(" / ")
    assert int(replayed) >= 1  # a retry on the same key was answered with the first answer
    faults = [line for line in out.splitlines() if line.startswith("  - ")]
    cut = [f for f in faults if "answer lost on its way back" in f]
    assert cut and all(" replayed on try " in f for f in cut), cut
    assert any("kill broker node 1" in f for f in faults)
    assert any("mid-file" in f for f in faults)
    assert not any("NOT INJECTED" in f for f in faults)
