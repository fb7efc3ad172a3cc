"""Kafka administration: topics are created explicitly at start-up, never auto-created."""
from __future__ import annotations

import logging
import os

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from shared.contracts.topics import TOPICS, Groups, dlq_topic

log = logging.getLogger(__name__)


async def ensure_topics(bootstrap: str, extra: dict[str, int] | None = None,
                        replication_factor: int | None = None) -> None:
    """Create the registry's topics (and the dead-letter topics) that do not exist yet.

    Each new topic gets `replication_factor` copies; by default the KAFKA_REPLICATION_FACTOR
    setting (1 on a single broker; 3 on the replicated cluster, scripts/kafka_cluster.py)."""
    if replication_factor is None:
        replication_factor = replication_factor_setting()
    wanted = {t.name: t.partitions for t in TOPICS.values()}
    wanted.update({dlq_topic(g): 1 for g in Groups.all()})
    wanted.update(extra or {})
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(name, partitions, replication_factor)
                   for name, partitions in wanted.items() if name not in existing]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # a replica starting at the same moment created it first
            log.info("topics created", extra={"topics": [t.name for t in missing]})
    finally:
        await admin.close()


def replication_factor_setting() -> int:
    """KAFKA_REPLICATION_FACTOR: how many brokers keep a copy of each new topic (default 1)."""
    raw = os.environ.get("KAFKA_REPLICATION_FACTOR", "1").strip()
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        raise ValueError("KAFKA_REPLICATION_FACTOR must be a whole number of brokers, 1 or more")
    return int(raw)


async def kafka_reachable(bootstrap: str) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=2000)
    try:
        await admin.start()
        await admin.list_topics()
        return True
    except Exception:  # noqa: BLE001 - readiness: any failure means not ready
        return False
    finally:
        await admin.close()
