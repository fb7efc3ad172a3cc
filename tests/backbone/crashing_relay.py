"""A relay that is SIGKILLed after Kafka confirmed its batch and before it committed the
rows' deletion: the worst moment for an outbox. Run as a subprocess by test_backbone.py."""
import asyncio
import os
import signal
import sys

from shared.db import create_pool
from shared.outbox import OutboxRelay, make_producer


class CrashingRelay(OutboxRelay):
    async def _confirmed(self, futures):  # noqa: ANN001 - test double of one step
        await super()._confirmed(futures)
        os.kill(os.getpid(), signal.SIGKILL)


async def main(dsn: str, bootstrap: str) -> None:
    pool = await create_pool(dsn)
    producer = make_producer(bootstrap, "crashing-relay")
    await producer.start()
    await CrashingRelay(pool, producer).publish_batch()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
