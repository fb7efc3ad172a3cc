"""The secure infrastructure profile (`scripts/infra.py --profile secure`): Kafka with
SASL/SCRAM users and ACLs per service, PostgreSQL with a password role per service. The
backbone runs as services' users, a user is refused what belongs to another service, and
one payment goes through the whole stack, every process with its own credentials, to
`payment.settled`."""
from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
import time
import uuid
from datetime import timedelta

import aiohttp
import asyncpg
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import GroupAuthorizationFailedError, KafkaError, TopicAuthorizationFailedError
from faststream.kafka import KafkaBroker

from scripts import infra as infra_script
from scripts.stack import Ports, Stack, StackConfig
from shared.calendar import add_banking_days, business_today, is_banking_day
from shared.consumer import DeadLetters, IdempotentConsumer, subscribe
from shared.contracts.envelope import Envelope
from shared.contracts.payments import Allocation, Contact, Method, PaymentSettledData
from shared.contracts.topics import BILLING_V1, IDENTITY_V1, PAYMENTS_V1
from shared.db import create_pool, migrate
from shared.kafka import KafkaAuth
from shared.outbox import OutboxRelay, enqueue_many, make_producer
from tests.conftest import ROOT, Infra
from tests.helpers import wait_for
from tests.stack import RunningStack

SHIFT = int(os.environ.get("TEST_PORT_SHIFT", "0"))
BANK = {"type": "checking", "account_holder_name": "Pat Tester", "account_number": "987654321",
        "account_number_confirmation": "987654321", "routing_number": "011000015",
        "routing_number_confirmation": "011000015"}


def _infra(*args: str) -> None:
    subprocess.run([sys.executable, str(ROOT / "scripts" / "infra.py"), *args, "--profile", "secure"],
                   check=True, cwd=ROOT, env={**os.environ, "TEST_PORT_SHIFT": str(SHIFT)})


@pytest.fixture(scope="module")
def secure():
    _infra("up", "--fresh")
    try:
        yield infra_script.PROFILES["secure"]
    finally:
        _infra("down")


def test_passwords_and_broker_settings_are_owner_only(secure):
    for path in (secure.state / "secrets.json", secure.state / "kafka" / "server.properties",
                 secure.state / "env"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert "KAFKA_SASL_PASSWORD=" in (secure.state / "env").read_text()


def test_the_acl_table_matches_what_each_service_consumes():
    from services.billing.app import build_service as billing
    from services.billing.config import Settings as BillingSettings
    from services.identity.app import build_service as identity
    from services.identity.config import Settings as IdentitySettings
    from services.notify.app import build_service as notify
    from services.notify.config import Settings as NotifySettings
    from services.payments.app import build_service as payments
    from services.payments.config import Settings as PaymentsSettings

    for name, build, settings in (("identity", identity, IdentitySettings), ("billing", billing, BillingSettings),
                                  ("payments", payments, PaymentsSettings), ("notify", notify, NotifySettings)):
        service = build(settings())
        consumed = {t for spec in service.consumers for t in spec.topics}
        assert consumed == set(infra_script.CONSUMES[name]), name
        assert all(spec.group_id.startswith(f"{name}.") for spec in service.consumers), name


async def _settled_event(bootstrap: str, auth: KafkaAuth, payment_id: str, timeout_s: float) -> dict:
    consumer = AIOKafkaConsumer(PAYMENTS_V1, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", **auth.client_options())
    await consumer.start()
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for r in records:
                    event = orjson.loads(r.value)
                    if (event.get("event_type") == "payment.settled"
                            and event["data"].get("payment_id") == payment_id):
                        return event
        raise TimeoutError(f"no payment.settled for {payment_id}")
    finally:
        await consumer.stop()


async def test_one_payment_through_the_secure_stack_to_settled(secure):
    services = ("identity", "billing", "payments", "notify", "gateway")
    config = StackConfig(
        kafka_bootstrap=secure.bootstrap, dsn_of={n: secure.dsn(n, n) for n in services},
        state_dir=secure.state / "stack", ports=Ports.offset(20_000 + SHIFT), captcha_enabled=False,
        app_env="test",
        # the payment's debit is looked for in the day's file (account validation of a new
        # bank account has its own tests: tests/payments/test_account_validation.py)
        extra_env={"GATEWAY_COOKIE_SECURE": "false", "PAYMENTS_ACCOUNT_VALIDATION": "none"},
        process_env={n: infra_script.kafka_env(secure.kafka_auth(n)) for n in services})
    stack = Stack(config)
    stack.start()
    try:
        await stack.wait_ready(timeout_s=120)
        running = RunningStack(stack, Infra(secure.bootstrap, secure.dsn("postgres"),
                                            kafka_auth=secure.kafka_auth("exchange")))
        member = await running.seed_member(shopped_hours_ago=5)
        async with aiohttp.ClientSession() as http:
            body = {"plan_type": member["plan_type"], "id_type": "enrollment_id",
                    "id_value": member["enrollment_id"], "first_name": member["first_name"],
                    "last_name": member["last_name"],
                    "date_of_birth": member["date_of_birth"].isoformat()}
            async with http.post(f"{running.gateway_url}/api/v1/lookups", json=body) as r:
                found = await r.json()
                assert r.status == 201, found
            ban = found["billing_account_number"]
            auth = {"Authorization": f"Bearer {found['lookup_token']}"}
            pay = {"billing_account_number": ban, "kind": "one_time", "amount": "10.00", "method": BANK,
                   "contact": {"email": member["email"], "email_confirmation": member["email"],
                               "phone": member["phone"]}}
            async with http.post(f"{running.gateway_url}/api/v1/payments", json=pay,
                                 headers={"Idempotency-Key": str(uuid.uuid4()), **auth}) as r:
                paid = await r.json()
                assert r.status == 201, paid
            day = business_today()
            while not is_banking_day(day):
                day += timedelta(days=1)
            name = f"PAYMENTS_{day:%Y%m%d}_A.ach"
            assert f"1 debits into {name}" in running.run_cli("payments", "ach-cutoff", "--date",
                                                             day.isoformat())

            async def bank_read_it() -> dict | None:  # the sandbox polls on its own too
                async with http.post(f"{running.sandbox_url}/bank/poll"):
                    pass
                async with http.get(f"{running.sandbox_url}/bank/") as r:
                    return next((f for f in (await r.json())["files"] if f["file"] == name), None)
            report = await wait_for(bank_read_it, timeout_s=30, what="the bank's report")
            assert report["status"] == "accepted" and report["entries"] == 1
            # settled by its effective date (two or three banking days after the cutoff's,
            # as the payment came before or after the day's cutoff hour)
            assert "1 payments settled" in running.run_cli(
                "payments", "settle", "--date", add_banking_days(day, 5).isoformat())
        settled = await _settled_event(secure.bootstrap, secure.kafka_auth("billing"),
                                       paid["payment_id"], timeout_s=30)
        assert settled["key"] == ban and settled["data"]["amount_cents"] == 1000
    finally:
        stack.stop()


async def test_outbox_relay_consumer_round_trip_as_service_users(secure):
    """payments' relay publishes as `payments`; billing's consumer reads as `billing`."""
    pay_pool = await create_pool(secure.dsn("payments", "payments"), max_size=4)
    bill_pool = await create_pool(secure.dsn("billing", "billing"), max_size=4)
    producer = make_producer(secure.bootstrap, "payments-relay", secure.kafka_auth("payments"))
    dlq_producer = make_producer(secure.bootstrap, "billing-dlq", secure.kafka_auth("billing"))
    billing_auth = secure.kafka_auth("billing")
    broker = KafkaBroker(secure.bootstrap, security=billing_auth.broker_security())
    seen: list[str] = []

    async def on_event(conn, event: Envelope) -> None:
        seen.append(event.key)

    try:
        await migrate(pay_pool, None)
        await migrate(bill_pool, None)
        group = f"billing.secure-{uuid.uuid4().hex[:8]}"
        consumer = IdempotentConsumer(bill_pool, group, DeadLetters(dlq_producer, group),
                                      handlers={"payment.settled": on_event})
        subscribe(broker, consumer, PAYMENTS_V1)
        await producer.start()
        await dlq_producer.start()
        await broker.start()
        keys = [f"70000000{i:02d}" for i in range(5)]
        async with pay_pool.acquire() as conn, conn.transaction():
            await enqueue_many(conn, [Envelope.of(PaymentSettledData(
                payment_id=str(uuid.uuid4()), confirmation_number="PC-SECURE",
                billing_account_number=k, amount_cents=100,
                allocations=[Allocation(coverage_year=2027, amount_cents=100)],
                method=Method(type="checking", last4="6789"), settled_on="2027-01-27",
                contact=Contact()), key=k) for k in keys])
        relay = OutboxRelay(pay_pool, producer)
        task = asyncio.create_task(relay.run())
        try:
            await wait_for(lambda: set(keys) <= set(seen), timeout_s=45, what="events consumed")
        finally:
            relay.stop()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    finally:
        await broker.stop()
        await producer.stop()
        await dlq_producer.stop()
        await pay_pool.close()
        await bill_pool.close()


async def _produce(bootstrap: str, auth: KafkaAuth, topic: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", request_timeout_ms=10000,
                                **auth.client_options())
    try:
        await producer.start()
        await producer.send_and_wait(topic, b"{}")
    finally:
        await producer.stop()


async def _consume(bootstrap: str, auth: KafkaAuth, topic: str, group: str) -> None:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                                auto_offset_reset="earliest", **auth.client_options())
    try:
        await consumer.start()
        await consumer.getmany(timeout_ms=5000)
    finally:
        await consumer.stop()


async def test_a_service_user_is_refused_what_belongs_to_another_service(secure):
    payments = secure.kafka_auth("payments")
    with pytest.raises(TopicAuthorizationFailedError):  # billing's topic
        await _produce(secure.bootstrap, payments, BILLING_V1)
    with pytest.raises(TopicAuthorizationFailedError):  # identity's events are not its to read
        await _consume(secure.bootstrap, payments, IDENTITY_V1, "payments.peek")
    with pytest.raises(GroupAuthorizationFailedError):  # billing's consumer group
        await _consume(secure.bootstrap, payments, BILLING_V1, "billing.payments")
    # No credentials, or a wrong password: no connection at all.
    for auth in (KafkaAuth(), KafkaAuth("SASL_PLAINTEXT", "SCRAM-SHA-512", "payments", "guess")):
        admin = AIOKafkaAdminClient(bootstrap_servers=secure.bootstrap, request_timeout_ms=3000,
                                    **auth.client_options())
        with pytest.raises((KafkaError, asyncio.TimeoutError, OSError)):
            await asyncio.wait_for(admin.start(), 15)
        await admin.close()

    # PostgreSQL: the payments role may not open billing's database, has no power beyond
    # its own, and nobody connects without a password.
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await asyncpg.connect(secure.dsn("billing", "payments"))
    conn = await asyncpg.connect(secure.dsn("payments", "payments"))
    try:
        assert not await conn.fetchval("SELECT rolsuper OR rolcreatedb OR rolcreaterole FROM pg_roles "
                                       "WHERE rolname = current_user")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute('CREATE DATABASE "payments_copy"')
    finally:
        await conn.close()
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(f"postgresql://payments@127.0.0.1:{secure.pg_port}/payments")
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(f"postgresql://postgres:guess@127.0.0.1:{secure.pg_port}/postgres")


def test_docker_compose_gives_each_service_its_own_users():
    """No Docker engine here: the compose file is checked by reading it."""
    import yaml

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    for name in ("identity", "billing", "payments", "notify", "gateway"):
        env = services[name]["environment"]
        assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT", name
        assert env["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512", name
        assert env["KAFKA_SASL_USERNAME"] == name, name
        assert env["KAFKA_SASL_PASSWORD"].startswith(f"${{KAFKA_{name.upper()}_PASSWORD:-dev-only-")
        urls = {k: v for k, v in env.items() if k.endswith("_DATABASE_URL")}
        assert list(urls) == [f"{name.upper()}_DATABASE_URL"], name  # its own database only
        assert urls[f"{name.upper()}_DATABASE_URL"].startswith(f"postgresql://{name}:${{"), name
    assert services["seed"]["environment"]["KAFKA_SASL_USERNAME"] == "exchange"
    setup = services["kafka-setup"]
    assert setup["command"][-1] == "kafka-setup" and setup["environment"]["KAFKA_SASL_USERNAME"] == "admin"
    pg = services["postgres"]["environment"]
    assert pg["POSTGRES_HOST_AUTH_METHOD"] == "scram-sha-256"
    assert all(f"{n.upper()}_DB_PASSWORD" in pg for n in ("identity", "billing", "payments", "notify", "gateway"))
    start = (ROOT / "infra" / "kafka-start.sh").read_text()
    assert "StandardAuthorizer" in start and "allow.everyone.if.no.acl.found=false" in start
    kafka_env = services["kafka"]["environment"]
    for user in infra_script.KAFKA_USERS:
        assert f" {user} " in start.split("for user in", 1)[1].split(";", 1)[0] + " ", user
        assert f"KAFKA_{user.upper()}_PASSWORD" in kafka_env, user


def test_kafka_credentials_come_from_unprefixed_settings_and_never_print(monkeypatch):
    from services.payments.config import Settings

    assert Settings().kafka_auth().client_options() == {}  # PLAINTEXT, as before
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "payments")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "s3cret-pw")
    settings = Settings()
    auth = settings.kafka_auth()
    assert auth.client_options() == {"security_protocol": "SASL_PLAINTEXT",
                                     "sasl_mechanism": "SCRAM-SHA-512",
                                     "sasl_plain_username": "payments",
                                     "sasl_plain_password": "s3cret-pw"}
    assert type(auth.broker_security()).__name__ == "SASLScram512"
    assert "s3cret-pw" not in repr(auth) and "s3cret-pw" not in repr(settings)
    monkeypatch.delenv("KAFKA_SASL_PASSWORD")
    with pytest.raises(ValueError, match="SASL username and password"):
        Settings().kafka_auth()
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "dev-only-kafka-payments")
    monkeypatch.setenv("APP_ENV", "production")
    with pytest.raises(ValueError, match="kafka_sasl_password still has its development placeholder"):
        Settings()
