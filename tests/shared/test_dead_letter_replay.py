"""An operator lists, reads and replays dead letters with the service's CLI
(`python -m services.<name>.cli dead-letters ...`): a poison event whose cause is fixed is
replayed and applied once, and a second replay changes nothing."""
from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

from aiokafka import AIOKafkaProducer

from shared import metrics
from shared.consumer import PoisonEventError
from shared.contracts.envelope import Envelope
from shared.kafka import ensure_topics
from shared.runtime import Service
from shared.settings import ServiceSettings
from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]


async def cli(infra, dsn: str, *args: str) -> str:
    """The operator's command, in a thread: the service under test shares this event loop,
    and its consumer must keep heartbeating (a blocked loop costs it its partitions)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BILLING_DATABASE_URL": dsn,
           "KAFKA_BOOTSTRAP": infra.kafka_bootstrap}
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "services.billing.cli", *args], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


async def test_a_fixed_poison_event_is_replayed_and_applied_once(infra, fresh_db, tmp_path):
    (tmp_path / "0001_effects.sql").write_text("CREATE TABLE effects (event_id uuid, key text);")
    topic, group = f"t.replay.{uuid.uuid4().hex[:8]}", f"billing.replay-{uuid.uuid4().hex[:8]}"
    await ensure_topics(infra.kafka_bootstrap, extra={topic: 1})
    broken = {"needs-fix"}

    async def handler(conn, envelope):
        if envelope.key in broken:
            raise PoisonEventError(f"account {envelope.key} is not open")
        await conn.execute("INSERT INTO effects VALUES ($1, $2)", envelope.event_id, envelope.key)

    settings = ServiceSettings(database_url=fresh_db, KAFKA_BOOTSTRAP=infra.kafka_bootstrap,
                               run_relay=False)
    service = Service("billing", settings, tmp_path)
    service.consume(group, topic, handlers={"thing.happened": handler})
    await service.start(http=False)
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap)
    await producer.start()
    try:
        await service.wait_until_consuming()
        poison = Envelope(event_type="thing.happened", producer="test", key="needs-fix",
                          data={"account_number": "123456789012"})
        fine = Envelope(event_type="thing.happened", producer="test", key="fine", data={})
        for event in (poison, fine):
            await producer.send_and_wait(topic, event.to_bytes(), key=event.key.encode(),
                                         headers=event.headers())

        async def kept():
            return await service.pool.fetchval("SELECT count(*) FROM dead_letters") == 1
        await wait_for(kept, timeout_s=60, what="the poison event dead-lettered")

        listed = await cli(infra, fresh_db, "dead-letters", "list")
        assert listed.splitlines()[0] == "1 dead letter(s) waiting"
        (dead_letter_id,) = re.findall(rf"^(\S+)  {re.escape(group)}  thing.happened  {re.escape(topic)}\[0\]",
                                       listed, re.M)
        assert "PoisonEventError: account needs-fix is not open" in listed
        shown = await cli(infra, fresh_db, "dead-letters", "show", dead_letter_id)
        assert f"event_id: {poison.event_id}" in shown and "value (redacted): " in shown
        assert "123456789012" not in shown  # the original is never printed

        broken.clear()  # the cause is fixed (the account opened, say)
        replayed = await cli(infra, fresh_db, "dead-letters", "replay", dead_letter_id)
        assert replayed.strip() == f"[1/1] {dead_letter_id} published back to {topic}"

        async def applied():
            return await service.pool.fetchval(
                "SELECT count(*) FROM effects WHERE event_id = $1", poison.event_id) == 1
        await wait_for(applied, timeout_s=60, what="the replayed event applied")

        duplicates = metrics.EVENTS_CONSUMED.labels(group, "duplicate")
        before = duplicates._value.get()
        await cli(infra, fresh_db, "dead-letters", "replay", dead_letter_id)  # once more

        async def skipped():
            return duplicates._value.get() > before
        await wait_for(skipped, timeout_s=60, what="the second replay read and skipped")
        assert await service.pool.fetchval(
            "SELECT count(*) FROM effects WHERE event_id = $1", poison.event_id) == 1
        assert await service.pool.fetchval("SELECT count(*) FROM effects") == 2
        assert (await cli(infra, fresh_db, "dead-letters", "list")).splitlines()[0] == "0 dead letter(s) waiting"
    finally:
        await producer.stop()
        await service.stop()
