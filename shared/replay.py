"""Replays a dead letter: `python -m shared.replay <service> <dead_letter_id>`.

The dead letter on `dlq.<group>` is redacted; its original is sealed in the service's own
`dead_letters` table (shared/dead_letters.py). This unseals it with the service's settings
(`<SERVICE>_DEAD_LETTER_KEYS`) and publishes it back to the topic it came from, value, key
and headers as consumed; the event id makes a replay of something already applied a no-op.
"""
from __future__ import annotations

import argparse
import asyncio
import importlib
import uuid

from shared.db import create_pool
from shared.dead_letters import DeadLetterVault, original
from shared.outbox import make_producer
from shared.settings import ServiceSettings

SERVICES = ("identity", "billing", "payments", "notify")


async def replay(settings: ServiceSettings, dead_letter_id: uuid.UUID) -> str | None:
    """Publish the original back to its topic; returns the topic (None: no such dead letter).

    The group that dead-lettered the event recorded its id as processed (dead-lettered), so
    that record goes first, in the service's database: the group then applies the replayed
    event once. Every other group that already applied it finds its id and skips it, and a
    second replay of an event applied meanwhile is skipped by the group too."""
    pool = await create_pool(settings.database_url, 1, 2)
    try:
        vault = DeadLetterVault(settings.dead_letter_keys, settings.dead_letter_key_id)
        record = await original(pool, vault, dead_letter_id)
        if record is None:
            return None
        await pool.execute(
            """DELETE FROM processed_events p USING dead_letters d
               WHERE d.dead_letter_id = $1 AND p.consumer_group = d.consumer_group
                 AND p.event_id = d.event_id AND p.dead_lettered""", dead_letter_id)
        # With Kafka ACLs the original topic is another service's: an operator replays with
        # the admin user's credentials (KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD).
        producer = make_producer(settings.kafka_bootstrap, "dead-letter-replay", settings.kafka_auth())
        await producer.start()
        try:
            await producer.send_and_wait(record.topic, value=record.value, key=record.key,
                                         headers=record.headers)
        finally:
            await producer.stop()
        await pool.execute("UPDATE dead_letters SET replayed_at = now() WHERE dead_letter_id = $1",
                           dead_letter_id)
        return record.topic
    finally:
        await pool.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m shared.replay")
    parser.add_argument("service", choices=SERVICES)
    parser.add_argument("dead_letter_id", type=uuid.UUID)
    args = parser.parse_args(argv)
    settings = importlib.import_module(f"services.{args.service}.config").Settings()
    topic = asyncio.run(replay(settings, args.dead_letter_id))
    if topic is None:
        raise SystemExit(f"replay: no dead letter {args.dead_letter_id} in {args.service}'s database")
    print(f"replay: dead letter {args.dead_letter_id} published back to {topic}")


if __name__ == "__main__":
    main()
