"""What an SRE watches: the business counters move with a real payment, and every metric
the committed alert rules and dashboard name is one the running services serve, in
expressions that parse."""
from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from pathlib import Path

import aiohttp
import promql_parser
import yaml

from tests.gateway.test_stack_api import BANK, lookup

MONITORING = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"
SERVICES = ("identity", "billing", "payments", "notify", "gateway")


async def scrape(stack, service: str) -> str:
    """/metrics as a Prometheus scraper reads it, with the `metrics` caller's token."""
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{getattr(stack, service + '_url')}/metrics",
                            headers=stack.headers(service, "metrics")) as r:
            assert r.status == 200, await r.text()
            return await r.text()


def value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels` (0 when none)."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            if all(f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
    return total


def served_names(texts: list[str]) -> set[str]:
    names: set[str] = set()
    for text in texts:
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split(" ", 3)
                names.add(name)
                if kind == "histogram":
                    names |= {name + "_bucket", name + "_sum", name + "_count"}
            elif line and not line.startswith("#"):
                names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def selectors(node) -> set[str]:
    """Metric names of every vector selector in a parsed PromQL expression."""
    found: set[str] = set()
    if type(node).__name__ == "VectorSelector" and node.name:
        found.add(node.name)
    for attr in ("lhs", "rhs", "expr", "args", "vector_selector", "param"):
        child = getattr(node, attr, None)
        for item in child if isinstance(child, (list, tuple)) else [child]:
            if item is not None and not isinstance(item, (str, int, float)):
                found |= selectors(item)
    return found


def rule_expressions() -> list[tuple[str, str]]:
    rules = yaml.safe_load((MONITORING / "alerts.yaml").read_text())
    out = []
    for group in rules["groups"]:
        for rule in group["rules"]:
            assert rule["labels"]["severity"] in ("page", "ticket"), rule["alert"]
            assert rule["annotations"]["summary"], rule["alert"]
            out.append((rule["alert"], rule["expr"]))
    return out


def dashboard_expressions() -> list[tuple[str, str]]:
    dashboard = json.loads((MONITORING / "dashboard.json").read_text())
    return [(p["title"], t["expr"]) for p in dashboard["panels"] for t in p["targets"]]


async def test_a_payment_moves_the_business_counters(stack):
    before_payments = await scrape(stack, "payments")
    before_notify = await scrape(stack, "notify")
    member = await stack.seed_member(shopped_hours_ago=5)
    async with aiohttp.ClientSession() as http:
        found = await lookup(http, stack, member)
        body = {"billing_account_number": found["billing_account_number"], "kind": "one_time",
                "amount": "10.00", "method": BANK,
                "contact": {"email": member["email"], "email_confirmation": member["email"],
                            "phone": member["phone"]}}
        headers = {"Authorization": f"Bearer {found['lookup_token']}", "Idempotency-Key": str(uuid.uuid4())}
        async with http.post(f"{stack.gateway_url}/api/v1/payments", json=body, headers=headers) as r:
            assert r.status == 201, await r.text()
    submitted = dict(kind="one_time", rail="ach", status="submitted")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        payments, notify = await scrape(stack, "payments"), await scrape(stack, "notify")
        sent = dict(type="payment.submitted", channel="email", outcome="sent")
        if (value(payments, "payments_total", **submitted) > value(before_payments, "payments_total", **submitted)
                and value(notify, "notifications_total", **sent) > value(before_notify, "notifications_total", **sent)):
            break
        await asyncio.sleep(0.3)
    assert value(payments, "payments_total", **submitted) - value(before_payments, "payments_total", **submitted) >= 1
    assert (value(payments, "payments_cents_total", **submitted)
            - value(before_payments, "payments_cents_total", **submitted)) >= 1000
    assert value(notify, "notifications_total", **sent) > value(before_notify, "notifications_total", **sent)
    assert value(payments, "outbox_backlog") >= 0 and "consumer_lag{" in payments


async def test_every_metric_the_alerts_and_dashboard_name_is_served(stack):
    names = served_names([await scrape(stack, service) for service in SERVICES])
    expressions = rule_expressions() + dashboard_expressions()
    assert len(expressions) >= 25
    for where, expr in expressions:
        parsed = promql_parser.parse(expr)  # raises on a syntax error
        missing = selectors(parsed) - names - {"up"}  # `up` is Prometheus's own
        assert not missing, f"{where}: {sorted(missing)} not served by any service"


async def test_prometheus_scrapes_every_service_with_the_sidecars_token_files(stack, tmp_path):
    """deploy/monitoring/prometheus.yml names one job per service with the token file the
    sidecar (`python -m shared.scrape_tokens`) keeps; each file opens that service's /metrics."""
    import os
    import subprocess
    import sys

    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yaml"]
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    assert set(jobs) == set(SERVICES)
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, **stack.stack.config.environment()}
    done = subprocess.run([sys.executable, "-m", "shared.scrape_tokens", "--dir", str(tmp_path), "--once"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    async with aiohttp.ClientSession() as http:
        for service, job in jobs.items():
            token_file = Path(job["authorization"]["credentials_file"])
            assert token_file.name == service
            token = (tmp_path / service).read_text()
            assert oct((tmp_path / service).stat().st_mode & 0o777) == "0o600"
            async with http.get(f"{getattr(stack, service + '_url')}/metrics",
                                headers={"Authorization": f"Bearer {token}"}) as r:
                assert r.status == 200 and "http_requests_total" in await r.text()
            async with http.get(f"{getattr(stack, service + '_url')}/metrics") as r:
                assert r.status == 401
