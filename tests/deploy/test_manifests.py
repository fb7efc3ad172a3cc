"""The Kubernetes manifests under deploy/k8s, checked offline: every file parses, every
service has a Deployment with probes, resources and a hardened container, a Service, a
PodDisruptionBudget that covers its pods, a replica count in the kustomization and a
migration Job; every setting they give is one the services read; and the migration Job's
command applies a service's migrations against a real PostgreSQL."""
from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "deploy" / "k8s" / "base"
SERVICES = ("identity", "billing", "payments", "notify", "gateway")


def _documents(folder: Path) -> list[dict]:
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    docs: list[dict] = []
    for name in kustomization["resources"]:
        docs += [d for d in yaml.safe_load_all((folder / name).read_text()) if d]
    return docs


def _find(docs: list[dict], kind: str, name: str) -> dict:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def _env_names_read() -> set[str]:
    """Every environment variable some service's settings read."""
    names: set[str] = set()
    for service in SERVICES:
        settings_cls = importlib.import_module(f"services.{service}.config").Settings
        prefix = settings_cls.model_config.get("env_prefix", "")
        for field_name, field in settings_cls.model_fields.items():
            alias = field.validation_alias
            names.add(alias.upper() if isinstance(alias, str) else f"{prefix}{field_name}".upper())
    return names


def test_every_resource_parses_and_is_named():
    docs = _documents(BASE)
    assert docs
    for doc in docs:
        assert doc.get("apiVersion") and doc.get("kind") and doc["metadata"].get("name"), doc


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_is_deployed_with_probes_resources_and_a_disruption_budget(service):
    docs = _documents(BASE)
    deployment = _find(docs, "Deployment", service)
    pod = deployment["spec"]["template"]
    labels = pod["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    (container,) = pod["spec"]["containers"]
    assert container["command"] == ["python", "-m", f"services.{service}"]
    port = importlib.import_module(f"services.{service}.config").Settings().http_port
    assert container["ports"] == [{"name": "http", "containerPort": port}]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= container["resources"][kind].keys()
    hardening = container["securityContext"]
    assert hardening["allowPrivilegeEscalation"] is False
    assert hardening["readOnlyRootFilesystem"] is True
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    # Secrets come from the service's own Secret, never as literal values.
    assert {"secretRef": {"name": f"{service}-secrets"}} in container["envFrom"]
    for env in container.get("env", []):
        assert not any(word in env["name"] for word in ("KEY", "PASSWORD", "SECRET", "DATABASE_URL"))

    budget = _find(docs, "PodDisruptionBudget", service)
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert budget["spec"]["minAvailable"] == 1
    svc = _find(docs, "Service", service)
    assert svc["spec"]["selector"].items() <= labels.items()
    assert svc["spec"]["ports"][0]["port"] == port

    replicas = yaml.safe_load((BASE / "kustomization.yaml").read_text())["replicas"]
    assert [r["count"] for r in replicas if r["name"] == service][0] >= 2

    job = _find(docs, "Job", f"migrate-{service}")
    (migrate,) = job["spec"]["template"]["spec"]["containers"]
    assert migrate["command"] == ["python", "-m", "shared.migrate", service]
    assert {"secretRef": {"name": f"{service}-secrets"}} in migrate["envFrom"]


def test_every_setting_given_is_one_a_service_reads():
    docs = _documents(BASE)
    read = _env_names_read()
    given = set(_find(docs, "ConfigMap", "portal-config")["data"])
    for doc in docs:
        if doc["kind"] == "Deployment":
            for container in doc["spec"]["template"]["spec"]["containers"]:
                given |= {e["name"] for e in container.get("env", [])}
    example = [d for d in yaml.safe_load_all((ROOT / "deploy" / "k8s" / "secrets.example.yaml").read_text()) if d]
    for secret in example:
        assert secret["kind"] == "Secret"
        service = secret["metadata"]["name"].removesuffix("-secrets")
        assert service in SERVICES
        given |= set(secret["stringData"])
        # every value is a placeholder to replace (a bare one is refused in production)
        assert all("dev-only-" in v for v in secret["stringData"].values())
    assert given - read == set()


async def test_the_migration_job_command_applies_a_services_migrations(fresh_db):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PAYMENTS_DATABASE_URL": fresh_db}
    first = subprocess.run([sys.executable, "-m", "shared.migrate", "payments"], env=env,
                           capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("payments: ") and "migration(s) applied" in first.stdout
    conn = await asyncpg.connect(fresh_db)
    try:
        versions = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        assert versions and await conn.fetchval("SELECT to_regclass('outbox') IS NOT NULL")
    finally:
        await conn.close()
    again = subprocess.run([sys.executable, "-m", "shared.migrate", "payments"], env=env,
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and again.stdout.strip() == "payments: 0 migration(s) applied"
