"""The standing fuzz run: schemathesis over the gateway's own OpenAPI document, against the
real running stack. Bounded (examples per operation and a time budget) and deterministic
(a fixed seed); no answer is a 5xx and every answer conforms to the document (status code,
content type, body schema, headers). The figures are printed and kept in the run's state
folder (`fuzz-report.json`)."""
from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance", "response_headers_conformance")
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "12"))
BUDGET_S = int(os.environ.get("FUZZ_BUDGET_S", "45"))
SEED = 14


async def test_schemathesis_finds_no_5xx_and_no_nonconforming_answer(stack):
    report_dir = Path(stack.state_dir) / "fuzz"
    report_dir.mkdir(parents=True, exist_ok=True)
    events = report_dir / "events.ndjson"
    st = Path(sys.executable).with_name("st")
    proc = await asyncio.create_subprocess_exec(
        str(st), "run", f"{stack.gateway_url}/api/openapi.json", "--url", stack.gateway_url,
        "--checks", ",".join(CHECKS), "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED),
        "--generation-deterministic", "--max-time", str(BUDGET_S), "--workers", "1",
        "--request-timeout", "10", "--continue-on-failure", "--no-color",
        "--report", "ndjson", "--report-ndjson-path", str(events),
        cwd=report_dir, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=BUDGET_S + 120)
    text = out.decode(errors="replace")
    requests, failures = _figures(events)
    server_errors = [f for f in failures if f["check"] == "not_a_server_error"]
    nonconforming = [f for f in failures if f["check"] != "not_a_server_error"]
    summary = {"requests": requests, "server_errors": len(server_errors),
               "nonconforming": len(nonconforming), "exit_code": proc.returncode,
               "max_examples": MAX_EXAMPLES, "budget_s": BUDGET_S, "seed": SEED}
    (report_dir.parent / "fuzz-report.json").write_text(json.dumps(summary, indent=2))
    print(f"\nschemathesis: {summary}")
    assert requests >= 200, text[-3000:]  # it really ran
    assert not server_errors and not nonconforming, (summary, failures[:10], text[-3000:])
    assert proc.returncode == 0, text[-3000:]


def _figures(events: Path) -> tuple[int, list[dict]]:
    """Requests sent and failed checks, read from schemathesis' event stream."""
    requests, failures = 0, []
    for line in events.read_text().splitlines():
        event = json.loads(line)
        for kind, body in event.items():
            if kind != "ScenarioFinished":
                continue
            for case in (body.get("recorder") or {}).get("interactions", {}).values():
                requests += 1 if case.get("response") is not None else 0
            for checks in (body.get("recorder") or {}).get("checks", {}).values():
                for check in checks:
                    if str(check.get("status")).lower() == "failure":
                        failures.append({"check": check.get("name"), "message": check.get("failure_info")})
    return requests, failures
