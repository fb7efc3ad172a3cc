"""Real Kafka and PostgreSQL for every test that needs them; never a silent skip.

Where they come from, in order:
1. `TEST_KAFKA_BOOTSTRAP` and `TEST_PG_ADMIN_DSN` (set by `make test`, which starts the
   project's own servers with scripts/infra.py);
2. testcontainers, where a Docker engine answers;
3. otherwise this conftest starts the project's own servers itself (`infra.py up --profile test`).
"""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shared.kafka import PLAINTEXT, KafkaAuth  # noqa: E402
from tests.harness import database  # noqa: E402

# The whole running system (`stack` fixture) for end-to-end and browser tests.
pytest_plugins = ["tests.stack"]


@dataclass(frozen=True)
class Infra:
    kafka_bootstrap: str
    pg_admin_dsn: str  # a superuser DSN to the `postgres` database
    kafka_auth: KafkaAuth = PLAINTEXT  # what tests publish enrollments and read topics as

    def dsn(self, database: str) -> str:
        return self.pg_admin_dsn.rsplit("/", 1)[0] + "/" + database


def _docker_available() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env().ping()
        return True
    except Exception:  # noqa: BLE001 - no engine
        return False


@pytest.fixture(scope="session")
def infra() -> Infra:
    if os.environ.get("TEST_KAFKA_BOOTSTRAP") and os.environ.get("TEST_PG_ADMIN_DSN"):
        yield Infra(os.environ["TEST_KAFKA_BOOTSTRAP"], os.environ["TEST_PG_ADMIN_DSN"])
        return
    if _docker_available() and os.environ.get("TEST_USE_CONTAINERS", "1") == "1":
        from testcontainers.kafka import KafkaContainer
        from testcontainers.postgres import PostgresContainer

        with KafkaContainer("apache/kafka:4.1.1").with_kraft() as kafka, \
                PostgresContainer("postgres:15", driver=None) as pg:
            yield Infra(kafka.get_bootstrap_server(), pg.get_connection_url())
        return
    subprocess.run([sys.executable, str(ROOT / "scripts" / "infra.py"), "up", "--profile", "test"],
                   check=True)
    shift = int(os.environ.get("TEST_PORT_SHIFT", "0"))
    yield Infra(f"127.0.0.1:{19092 + shift}", f"postgresql://postgres@127.0.0.1:{55433 + shift}/postgres")


@pytest.fixture
async def fresh_db(infra: Infra):
    """A new, empty database for one test; dropped afterwards. Yields its DSN."""
    async with database(infra) as dsn:
        yield dsn


def unique(prefix: str = "") -> str:
    """A random id so tests never depend on each other's data."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def pytest_collection_modifyitems(config, items):
    """Tests on the whole running stack go last. The stack's services consume the shared
    topics with the production consumer groups; running them after the single-service
    tests keeps those tests' events out of the stack and the stack out of their way."""
    items.sort(key=lambda item: "stack" in getattr(item, "fixturenames", ()))
