"""Kafka administration (topics are created explicitly at start-up, never auto-created) and
the credentials every Kafka client of a process uses.

`KafkaAuth` is how a process authenticates to the brokers: PLAINTEXT (no credentials, the
default) or SASL with a user of its own (SCRAM-SHA-512 on the secure profile and in docker
compose). Producers, consumers, the FastStream broker and admin clients all take it.

`KAFKA_BOOTSTRAP` may name several brokers, comma-separated (a cluster's nodes):
`bootstrap_servers` is that list. aiokafka's clients split such a string themselves;
FastStream's broker takes a string as one address, so it is handed the list. A client
starting while the first broker named is down bootstraps from the next one.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, Literal

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from shared.contracts.topics import TOPICS, Groups, dlq_topic

log = logging.getLogger(__name__)

SecurityProtocol = Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL"]
SaslMechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]


def bootstrap_servers(bootstrap: str) -> list[str]:
    """The brokers of a comma-separated `KAFKA_BOOTSTRAP` ("host:port,host:port"), in order."""
    servers = [a.strip() for a in bootstrap.split(",") if a.strip()]
    if not servers:
        raise ValueError("KAFKA_BOOTSTRAP names no broker")
    return servers


@dataclass(frozen=True)
class KafkaAuth:
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism = "SCRAM-SHA-512"
    username: str = ""
    password: str = ""

    def __post_init__(self) -> None:
        if self.sasl and not (self.username and self.password):
            raise ValueError(f"Kafka {self.security_protocol} needs a SASL username and password")

    @property
    def sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    def __repr__(self) -> str:  # never print the password
        return f"KafkaAuth({self.security_protocol}, {self.sasl_mechanism}, user={self.username!r})"

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka's producer, consumer and admin client."""
        if self.security_protocol == "PLAINTEXT":
            return {}
        options: dict[str, Any] = {"security_protocol": self.security_protocol}
        if self.security_protocol.endswith("SSL"):
            from aiokafka.helpers import create_ssl_context

            options["ssl_context"] = create_ssl_context()
        if self.sasl:
            options.update(sasl_mechanism=self.sasl_mechanism,
                           sasl_plain_username=self.username, sasl_plain_password=self.password)
        return options

    def broker_security(self) -> BaseSecurity | None:
        """The same, as FastStream's KafkaBroker takes it (`security=`)."""
        if self.security_protocol == "PLAINTEXT":
            return None
        use_ssl = self.security_protocol.endswith("SSL")
        if not self.sasl:
            from aiokafka.helpers import create_ssl_context

            return BaseSecurity(ssl_context=create_ssl_context(), use_ssl=True)
        kind = {"SCRAM-SHA-512": SASLScram512, "SCRAM-SHA-256": SASLScram256,
                "PLAIN": SASLPlaintext}[self.sasl_mechanism]
        return kind(self.username, self.password, use_ssl=use_ssl)


PLAINTEXT = KafkaAuth()


async def ensure_topics(bootstrap: str, extra: dict[str, int] | None = None,
                        replication_factor: int | None = None, auth: KafkaAuth = PLAINTEXT) -> None:
    """Create the registry's topics (and the dead-letter topics) that do not exist yet.
    With ACLs, a service's user sees every topic's name (DESCRIBE) and may create only its
    own dead-letter topics; the administrator creates the rest beforehand.

    Each new topic gets `replication_factor` copies; by default the KAFKA_REPLICATION_FACTOR
    setting (1 on a single broker; 3 on the replicated cluster, scripts/kafka_cluster.py)."""
    if replication_factor is None:
        replication_factor = replication_factor_setting()
    wanted = {t.name: t.partitions for t in TOPICS.values()}
    wanted.update({dlq_topic(g): 1 for g in Groups.all()})
    wanted.update(extra or {})
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000,
                                **auth.client_options())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        # With three copies or more an acknowledged write is on two brokers at least,
        # set on the topic itself so it holds on a cluster whose brokers default lower.
        configs = {"min.insync.replicas": "2"} if replication_factor >= 3 else {}
        missing = [NewTopic(name, partitions, replication_factor, topic_configs=configs)
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


async def kafka_reachable(bootstrap: str, auth: KafkaAuth = PLAINTEXT) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=2000,
                                **auth.client_options())
    try:
        await admin.start()
        await admin.list_topics()
        return True
    except Exception:  # noqa: BLE001 - readiness: any failure means not ready
        return False
    finally:
        await admin.close()
