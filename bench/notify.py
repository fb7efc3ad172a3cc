"""Benchmark: payment events turned into sent emails through SMTP.

    .venv/bin/python bench/notify.py [--events 100000] [--timeout-s 900]

Against the bench servers (`scripts/infra.py up --profile bench`: Kafka 127.0.0.1:29092,
PostgreSQL 127.0.0.1:55434, both moved by TEST_PORT_SHIFT), in a database created for the run and dropped at the end.
The whole notify service runs in this process (consumer, renderer, sender with several
SMTP connections, outbox relay of notification.sent); the SMTP server is a minimal sink in
this process that accepts and counts messages. Printed in the same run:
  1. the ceiling: the SMTP pool alone sending pre-built messages to the sink;
  2. the pipeline: events published to payments.v1 -> consumed, rendered, recorded ->
     sent by SMTP -> notification.sent in the outbox; messages/s end to end (goal >= 1,000/s).
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition  # noqa: E402

from scripts import infra  # noqa: E402
from services.notify.adapters.email import SmtpPool, mime_bytes  # noqa: E402
from services.notify.app import build_service  # noqa: E402
from services.notify.config import Settings  # noqa: E402
from shared.contracts import topics  # noqa: E402
from shared.contracts.envelope import Envelope  # noqa: E402
from shared.contracts.topics import dlq_topic  # noqa: E402
from shared.kafka import ensure_topics  # noqa: E402

BENCH_PROFILE = infra.PROFILES["bench"]  # its ports follow TEST_PORT_SHIFT


class SmtpSink(asyncio.Protocol):
    """Just enough SMTP to accept mail (pipelined commands too) and count it. It runs in a
    child process, as a mail server runs outside the service; `counter` is shared memory.
    A subclass may look at each recipient (`recipient`) and count otherwise (`accepted`)."""

    counter = None

    def connection_made(self, transport):
        self.t = transport
        self.buf = b""
        self.in_data = False
        transport.write(b"220 sink ESMTP\r\n")

    def recipient(self, address: bytes) -> None:
        """A RCPT TO address of the message being sent (the default ignores it)."""

    def accepted(self) -> None:
        """A whole message was accepted."""
        with SmtpSink.counter.get_lock():
            SmtpSink.counter.value += 1

    def data_received(self, data):
        self.buf += data
        while True:
            if self.in_data:
                end = self.buf.find(b"\r\n.\r\n")
                if end < 0:
                    return
                self.buf = self.buf[end + 5:]
                self.in_data = False
                self.accepted()
                self.t.write(b"250 OK queued\r\n")
                continue
            line_end = self.buf.find(b"\r\n")
            if line_end < 0:
                return
            line, self.buf = self.buf[:line_end], self.buf[line_end + 2:]
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                self.t.write(b"250-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
            elif verb == b"RCPT":
                self.recipient(line.split(b"<", 1)[-1].split(b">", 1)[0])
                self.t.write(b"250 OK\r\n")
            elif verb == b"DATA":
                self.in_data = True
                self.t.write(b"354 go ahead\r\n")
            elif verb == b"QUIT":
                self.t.write(b"221 bye\r\n")
                self.t.close()
                return
            else:
                self.t.write(b"250 OK\r\n")


def _sink_process(counter, ports) -> None:
    async def serve() -> None:
        SmtpSink.counter = counter
        server = await asyncio.get_running_loop().create_server(SmtpSink, "127.0.0.1", 0)
        ports.put(server.sockets[0].getsockname()[1])
        await asyncio.Event().wait()
    import uvloop
    uvloop.install()
    asyncio.run(serve())


class Sink:
    """The SMTP sink's process and its shared message counter."""

    def __init__(self) -> None:
        self.counter = multiprocessing.Value("q", 0)
        ports = multiprocessing.Queue()
        self.process = multiprocessing.Process(target=_sink_process, args=(self.counter, ports),
                                               daemon=True)
        self.process.start()
        self.port = ports.get(timeout=30)

    @property
    def count(self) -> int:
        return self.counter.value

    def reset(self) -> None:
        with self.counter.get_lock():
            self.counter.value = 0

    def close(self) -> None:
        self.process.terminate()
        self.process.join(5)


def payment_event(i: int, run: str) -> Envelope:
    ban = f"7{(i % 5000):09d}"
    return Envelope(event_type="payment.submitted", producer="payments", key=ban, data={
        "payment_id": str(uuid.uuid4()), "confirmation_number": f"PC-{run}-{i:07d}",
        "billing_account_number": ban, "plan_type": "health", "kind": "one_time",
        "amount_cents": 10_000 + i % 90_000, "allocations": [], "method": {"type": "checking", "last4": "6789"},
        "expected_withdrawal_date": "2026-11-25", "mandate_id": None, "channel": "guest",
        "contact": {"email": f"payer{i % 5000}@example.org", "phone": None,
                    "language": "es" if i % 3 == 0 else "en"}})


async def smtp_ceiling(port: int, count: int, connections: int) -> float:
    pool = SmtpPool("127.0.0.1", port, size=connections)
    msgs = [mime_bytes(sender="HC <no-reply@hc.example>", recipient=f"c{i}@example.org",
                       subject=f"ceiling {i}", text="hello " * 50, html="<p>hello</p>" * 50,
                       message_id=f"<c{i}@hc.example>", language="en") for i in range(count)]
    started = time.perf_counter()
    await asyncio.gather(*(pool.send(m, "no-reply@hc.example", f"c{i}@example.org")
                           for i, m in enumerate(msgs)))
    elapsed = time.perf_counter() - started
    await pool.close()
    return count / elapsed


async def commit_at_end(bootstrap: str, group: str) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()  # noqa: SLF001
        parts = [TopicPartition(t, p) for t in (topics.ENROLLMENT_V1, topics.IDENTITY_V1,
                                                topics.BILLING_V1, topics.PAYMENTS_V1)
                 for p in consumer.partitions_for_topic(t) or ()]
        consumer.assign(parts)
        await consumer.seek_to_end(*parts)
        await consumer.commit({tp: await consumer.position(tp) for tp in parts})
    finally:
        await consumer.stop()


def _sender_replica(settings_kwargs: dict, ready) -> None:
    """Another notify replica that only sends (no consumer, no relay, no scheduler): how an
    SRE scales delivery. Claims use SKIP LOCKED, so replicas never send one message twice."""
    async def serve() -> None:
        service = build_service(Settings(**settings_kwargs, run_consumers=False, run_relay=False))
        await service.start(http=False)
        ready.set()
        await asyncio.Event().wait()
    import uvloop
    uvloop.install()
    asyncio.run(serve())


async def main(args) -> None:
    run = uuid.uuid4().hex[:8]
    db = f"bench_notify_{run}"
    admin = await asyncpg.connect(args.pg_admin_dsn)
    await admin.execute(f'CREATE DATABASE "{db}"')
    await admin.close()
    dsn = args.pg_admin_dsn.rsplit("/", 1)[0] + "/" + db
    sink = Sink()
    port = sink.port
    group = f"notify.bench.{run}"
    service = None
    replicas: list = []
    try:
        print(f"notify bench: {args.events:,} events, {args.connections} SMTP connections, "
              f"{args.workers} sender loops of {args.batch}, "
              f"{args.sender_processes} extra sender-only replica process(es); "
              f"2 cores shared by Kafka, PostgreSQL, the SMTP sink process and this one")
        ceilings = [await smtp_ceiling(port, 3000, args.connections) for _ in range(3)]
        ceiling = statistics.median(ceilings)
        print(f"ceiling: SMTP pool alone, pre-built messages: median {ceiling:,.0f} msgs/s "
              f"(runs: {', '.join(f'{c:,.0f}' for c in ceilings)})")
        sink.reset()
        await ensure_topics(args.kafka, extra={dlq_topic(group): 1})
        await commit_at_end(args.kafka, group)
        common = dict(database_url=dsn, kafka_bootstrap=args.kafka, consumer_group=group,
                      smtp_port=port, smtp_connections=args.connections, sender_batch=args.batch,
                      sender_workers=args.workers, run_scheduler=False, db_pool_max=20,
                      sender_idle_poll_s=0.02, log_level="WARNING")
        settings = Settings(**common)
        for _ in range(args.sender_processes):
            ready = multiprocessing.Event()
            replica = multiprocessing.Process(target=_sender_replica, args=(common, ready), daemon=True)
            replica.start()
            replicas.append(replica)
            if not ready.wait(60):
                raise RuntimeError("a sender replica did not start")
        service = build_service(settings)
        await service.start(http=False)
        await service.wait_until_consuming()
        producer = AIOKafkaProducer(bootstrap_servers=args.kafka, acks="all", linger_ms=5,
                                    enable_idempotence=True, max_batch_size=256 * 1024)
        await producer.start()
        started = time.perf_counter()
        futures = []
        for i in range(args.events):
            e = payment_event(i, run)
            futures.append(await producer.send(topics.PAYMENTS_V1, e.to_bytes(), key=e.key.encode(),
                                               headers=e.headers()))
        await asyncio.gather(*futures)
        await producer.stop()
        published = time.perf_counter() - started
        print(f"published {args.events:,} events in {published:.1f} s")
        deadline = started + args.timeout_s
        recorded_at = None
        last_print = 0.0
        while sink.count < args.events and time.perf_counter() < deadline:
            await asyncio.sleep(0.25)
            now = time.perf_counter()
            if recorded_at is None and await service.pool.fetchval(
                    "SELECT count(*) FROM notification_state") >= args.events:
                recorded_at = now
            if now - last_print > 10:
                last_print = now
                print(f"  {now - started:5.1f} s: {sink.count:,} emails sent", flush=True)
        elapsed = time.perf_counter() - started
        sent = sink.count
        while time.perf_counter() < deadline and await service.pool.fetchval(
                "SELECT count(*) FROM notification_state WHERE status = 'sent'") < sent:
            await asyncio.sleep(0.1)
        rows = await service.pool.fetchval("SELECT count(*) FROM notifications")
        sent_rows = await service.pool.fetchval("SELECT count(*) FROM notifications WHERE status = 'sent'")
        events = await service.pool.fetchval("SELECT count(*) FROM outbox WHERE event_type = 'notification.sent'")
        rate = sent / elapsed
        print(f"pipeline: {sent:,} emails sent in {elapsed:.1f} s = {rate:,.0f} msgs/s end to end "
              f"(goal 1,000/s: {'met' if rate >= 1000 else 'NOT met'})")
        if recorded_at:
            print(f"  consumed and recorded all {args.events:,} in {recorded_at - started:.1f} s "
                  f"= {args.events / (recorded_at - started):,.0f} events/s")
        print(f"  notifications: {rows:,} rows, {sent_rows:,} sent, {events:,} notification.sent "
              f"in the outbox; duplicates: {sent - args.events if sent > args.events else 0}")
        print(f"  ratio pipeline / SMTP ceiling: {rate / ceiling:.2f}")
    finally:
        if service is not None:
            await service.stop()
        for replica in replicas:
            replica.terminate()
            replica.join(5)
        sink.close()
        admin = await asyncpg.connect(args.pg_admin_dsn)
        await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--batch", type=int, default=1000, help="notifications per sender claim")
    parser.add_argument("--workers", type=int, default=3, help="concurrent sender loops")
    parser.add_argument("--timeout-s", type=float, default=900)
    parser.add_argument("--sender-processes", type=int, default=0,
                        help="extra notify replicas that only send (scale-out of delivery)")
    parser.add_argument("--kafka", default=os.environ.get("BENCH_KAFKA_BOOTSTRAP", BENCH_PROFILE.bootstrap))
    parser.add_argument("--pg-admin-dsn", default=os.environ.get(
        "BENCH_PG_ADMIN_DSN", BENCH_PROFILE.dsn("postgres")))
    import uvloop
    uvloop.install()
    asyncio.run(main(parser.parse_args()))
