"""The replicated Kafka (scripts/kafka_cluster.py): three nodes, every topic the project
creates with three copies when KAFKA_REPLICATION_FACTOR says so, and a partition's leader
killed mid-stream loses no acknowledged event."""
from __future__ import annotations

import asyncio
import os

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from scripts import kafka_cluster
from shared.kafka import ensure_topics

# Six ports (three nodes, each with its controller port) apart per checkout: shifts that
# differ by 100 or more never share one.
BASE_PORT = 31092 + 10 * (int(os.environ.get("TEST_PORT_SHIFT", "0")) // 100)


@pytest.fixture(scope="module")
def cluster():
    c = kafka_cluster.Cluster("test-kafka-cluster", BASE_PORT)
    kafka_cluster.up(c, fresh=True)
    try:
        yield c
    finally:
        kafka_cluster.down(c, discard=True)


async def topic_settings(bootstrap: str, topic: str) -> dict[str, str]:
    """The topic's settings as a broker describes them; a broker that has not yet learnt of
    a topic just created answers with an error and no settings, so ask again a while."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        for _ in range(60):
            (configs,) = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
            error_code, _message, _type, _name, entries = configs.resources[0][:5]
            if error_code == 0 and entries:
                return {e[0]: e[1] for e in entries}
            await asyncio.sleep(0.5)
        raise AssertionError(f"no broker described {topic}: error {error_code}")
    finally:
        await admin.close()


async def test_topics_get_three_copies_and_a_killed_leader_loses_nothing(cluster, monkeypatch):
    monkeypatch.setenv("KAFKA_REPLICATION_FACTOR", "3")
    await ensure_topics(cluster.bootstrap, extra={"cluster.check": 3})
    leaders = await kafka_cluster.partition_leaders(cluster.bootstrap, "payments.v1")
    assert all(len(p["replicas"]) == 3 and len(p["isr"]) == 3 for p in leaders.values()), leaders
    settings = await topic_settings(cluster.bootstrap, "payments.v1")
    assert settings["min.insync.replicas"] == "2"
    assert settings["unclean.leader.election.enable"] == "false"

    producer = AIOKafkaProducer(bootstrap_servers=cluster.bootstrap, acks="all",
                                enable_idempotence=True, request_timeout_ms=10000)
    await producer.start()
    sent = []
    try:
        for i in range(300):
            if i == 100:  # the leader of partition 0 dies mid-stream
                victim = (await kafka_cluster.partition_leaders(cluster.bootstrap, "cluster.check"))[0]["leader"]
                kafka_cluster.kill_node(cluster, victim)
            await producer.send_and_wait("cluster.check", f"e{i}".encode(), partition=i % 3)
            sent.append(f"e{i}")
    finally:
        await producer.stop()
    after = await kafka_cluster.partition_leaders(cluster.bootstrap, "cluster.check")
    assert after[0]["leader"] not in (victim, -1)
    reader = AIOKafkaConsumer("cluster.check", bootstrap_servers=cluster.bootstrap,
                              auto_offset_reset="earliest", enable_auto_commit=False)
    await reader.start()
    got = []
    try:
        while len(got) < len(sent):
            batch = await asyncio.wait_for(reader.getmany(timeout_ms=2000), 30)
            if not batch:
                break
            got += [m.value.decode() for msgs in batch.values() for m in msgs]
    finally:
        await reader.stop()
    assert sorted(got) == sorted(sent)
    kafka_cluster.start_node(cluster, victim)
    await kafka_cluster.wait_ready(cluster)
