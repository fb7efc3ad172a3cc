"""A replicated Kafka: three KRaft nodes (each broker and controller) on one machine.

Every topic the project creates on it has three copies (KAFKA_REPLICATION_FACTOR=3 in the
environment of whatever creates topics, shared/kafka.py), a write needs two of them
(`min.insync.replicas=2`; producers send with acks=all) and a copy that fell behind never
becomes leader (`unclean.leader.election.enable=false`). So one node may die at any moment
without losing an acknowledged event, and writes go on while two are up.

Ports come from a base port: node i (1..3) listens for clients on base + 2(i-1) and for
its controller quorum on base + 2(i-1) + 1 (base 30092: 30092, 30094, 30096). Data and logs
are under .state/<name>/node-<i>. The same Maven Central jars as scripts/infra.py.

Usage: ``python scripts/kafka_cluster.py up|down|status [--name kafka-cluster]
[--base-port 30092] [--fresh]``; ``up`` reuses nodes already running.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts.infra import (  # noqa: E402
    KAFKA_LIBS,
    ensure_kafka_jars,
    kafka_metadata_ok,
    pid_alive,
    port_open,
    write_log4j,
)

NODES = 3
REPLICATION_FACTOR = 3
MIN_INSYNC_REPLICAS = 2


def log(msg: str) -> None:
    print(f"[kafka-cluster] {msg}", flush=True)


@dataclass(frozen=True)
class Cluster:
    name: str = "kafka-cluster"
    base_port: int = 30092

    @property
    def state(self) -> Path:
        return ROOT / ".state" / self.name

    def node_ids(self) -> range:
        return range(1, NODES + 1)

    def port(self, node: int) -> int:
        return self.base_port + 2 * (node - 1)

    def controller_port(self, node: int) -> int:
        return self.port(node) + 1

    def node_dir(self, node: int) -> Path:
        return self.state / f"node-{node}"

    def pid_file(self, node: int) -> Path:
        return self.node_dir(node) / "kafka.pid"

    def address(self, node: int) -> str:
        return f"127.0.0.1:{self.port(node)}"

    @property
    def bootstrap(self) -> str:
        """Every node's address: a client reaches the cluster while any one is up."""
        return ",".join(self.address(n) for n in self.node_ids())

    def environment(self) -> dict[str, str]:
        """Settings for the services and scripts that use this cluster."""
        return {"KAFKA_BOOTSTRAP": self.bootstrap,
                "KAFKA_REPLICATION_FACTOR": str(REPLICATION_FACTOR)}


def write_config(c: Cluster, node: int) -> tuple[Path, Path]:
    d = c.node_dir(node)
    d.mkdir(parents=True, exist_ok=True)
    voters = ",".join(f"{n}@127.0.0.1:{c.controller_port(n)}" for n in c.node_ids())
    props = d / "server.properties"
    props.write_text(f"""process.roles=broker,controller
node.id={node}
controller.quorum.voters={voters}
listeners=PLAINTEXT://127.0.0.1:{c.port(node)},CONTROLLER://127.0.0.1:{c.controller_port(node)}
advertised.listeners=PLAINTEXT://127.0.0.1:{c.port(node)}
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={d / 'data'}
num.partitions=6
default.replication.factor={REPLICATION_FACTOR}
min.insync.replicas={MIN_INSYNC_REPLICAS}
unclean.leader.election.enable=false
offsets.topic.replication.factor={REPLICATION_FACTOR}
offsets.topic.num.partitions=6
transaction.state.log.replication.factor={REPLICATION_FACTOR}
transaction.state.log.min.isr={MIN_INSYNC_REPLICAS}
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.retention.hours=168
""")
    return props, write_log4j(d)


def _format(c: Cluster) -> None:
    """All three nodes' storage under one cluster id (made once, kept in the state folder)."""
    cp = f"{KAFKA_LIBS}/*"
    id_file = c.state / "cluster-id"
    if not id_file.exists():
        c.state.mkdir(parents=True, exist_ok=True)
        id_file.write_text(subprocess.run(
            ["java", "-cp", cp, "kafka.tools.StorageTool", "random-uuid"],
            check=True, capture_output=True, text=True).stdout.strip())
    cluster_id = id_file.read_text().strip()
    for node in c.node_ids():
        props, _ = write_config(c, node)
        if not (c.node_dir(node) / "data" / "meta.properties").exists():
            subprocess.run(["java", "-cp", cp, "kafka.tools.StorageTool", "format", "-t", cluster_id,
                            "-c", str(props)], check=True, capture_output=True)
    log(f"storage of {NODES} nodes ready (cluster {cluster_id})")


_STARTED: dict[int, subprocess.Popen[bytes]] = {}


def start_node(c: Cluster, node: int) -> int:
    """Start one node's process (its storage formatted by `up`); returns its pid."""
    if pid_alive(c.pid_file(node)):
        return int(c.pid_file(node).read_text())
    if port_open(c.port(node)):
        sys.exit(f"[kafka-cluster] port {c.port(node)} is taken by another program")
    props, log4j = write_config(c, node)
    with open(c.node_dir(node) / "stdout.log", "ab") as out:
        proc = subprocess.Popen(
            ["java", "-Xms128m", "-Xmx512m", f"-Dlog4j2.configurationFile={log4j}",
             "-cp", f"{KAFKA_LIBS}/*", "kafka.Kafka", str(props)],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    c.pid_file(node).write_text(str(proc.pid))
    # The node outlives this call and is stopped by its pid; its Popen is kept so that
    # Python does not warn of a child process dropped while still running.
    _STARTED[proc.pid] = proc
    return proc.pid


def _wait_gone(c: Cluster, pids: dict[int, int], timeout_s: float) -> None:
    """Wait until the nodes' processes are gone, reaping those that are our children (a
    killed child stays a zombie, and so "alive", until it is reaped)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(pid_alive(c.pid_file(n)) for n in pids):
        for pid in pids.values():
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
        time.sleep(0.05)


def kill_node(c: Cluster, node: int) -> None:
    """SIGKILL one node, as a crash would (its data stays; `start_node` brings it back)."""
    pid = pid_alive(c.pid_file(node))
    if pid:
        os.killpg(pid, signal.SIGKILL)
        _wait_gone(c, {node: pid}, 10)
    c.pid_file(node).unlink(missing_ok=True)


async def wait_ready(c: Cluster, nodes: tuple[int, ...] | None = None, timeout_s: float = 120) -> None:
    """Until each node answers metadata and the cluster reports every node as a broker."""
    from aiokafka.admin import AIOKafkaAdminClient

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # refused connections while nodes start
    wanted = set(nodes or c.node_ids())
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ok = all([await kafka_metadata_ok(c.address(n)) for n in sorted(wanted)])
        if ok:
            admin = AIOKafkaAdminClient(bootstrap_servers=c.bootstrap, request_timeout_ms=3000)
            try:
                await admin.start()
                cluster = await admin.describe_cluster()
                if wanted <= {b["node_id"] for b in cluster["brokers"]}:
                    return
            except Exception:  # noqa: BLE001 - not ready yet
                pass
            finally:
                await admin.close()
        await asyncio.sleep(0.5)
    raise TimeoutError(f"Kafka nodes {sorted(wanted)} not ready in {timeout_s} s")


async def partition_leaders(bootstrap: str, topic: str) -> dict[int, dict]:
    """Per partition of `topic`: its leader's node id, its replicas and in-sync replicas."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return {p["partition"]: {"leader": p["leader"], "replicas": list(p["replicas"]),
                             "isr": list(p["isr"])} for p in described["partitions"]}


def up(c: Cluster, fresh: bool = False) -> Cluster:
    """Start (or reuse) the three nodes; call it before an event loop runs."""
    if fresh:
        down(c, discard=True)
        shutil.rmtree(c.state, ignore_errors=True)
    ensure_kafka_jars()
    _format(c)
    try:
        for node in c.node_ids():
            start_node(c, node)
        asyncio.run(wait_ready(c))
    except BaseException:  # a node that cannot start (its port taken): none is left running
        down(c, discard=fresh)
        raise
    log(f"ready on {c.bootstrap}")
    return c


def down(c: Cluster, discard: bool = False) -> None:
    """Stop every node. All three are asked at once, since a node stopping alone waits for a
    quorum that is leaving, and they share one 30-second grace before SIGKILL (nodes asked
    together can still each wait for a controller that is going). `discard=True` is for a
    cluster whose data is thrown away next (tests, the chaos run): SIGKILL at once."""
    pids = {node: pid for node in c.node_ids() if (pid := pid_alive(c.pid_file(node)))}
    for pid in pids.values():
        os.killpg(pid, signal.SIGKILL if discard else signal.SIGTERM)
    _wait_gone(c, pids, 10 if discard else 30)
    for node, pid in pids.items():
        if pid_alive(c.pid_file(node)):
            os.killpg(pid, signal.SIGKILL)
        c.pid_file(node).unlink(missing_ok=True)
        log(f"Kafka node {node} stopped")


def status(c: Cluster) -> list[str]:
    return [f"node {n} {'up' if pid_alive(c.pid_file(n)) and port_open(c.port(n)) else 'down'} "
            f"{c.address(n)}" for n in c.node_ids()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["up", "down", "status", "env"])
    parser.add_argument("--name", default="kafka-cluster", help="state folder under .state/")
    parser.add_argument("--base-port", type=int, default=30092)
    parser.add_argument("--fresh", action="store_true", help="wipe the cluster's data first")
    args = parser.parse_args()
    c = Cluster(args.name, args.base_port)
    if args.action == "up":
        up(c, fresh=args.fresh)
        os.environ.update(c.environment())
        from shared.kafka import ensure_topics

        asyncio.run(ensure_topics(c.bootstrap, replication_factor=REPLICATION_FACTOR))
    elif args.action == "down":
        down(c)
    elif args.action == "status":
        print("\n".join(status(c)))
    else:
        print("\n".join(f"{k}={v}" for k, v in c.environment().items()))


if __name__ == "__main__":
    main()
