"""A bare outbox relay as its own process, for tests that kill it: ``python -m tests.support.relay_process``.

Environment: DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS, RELAY_SCHEMA (the store's schema, migrated
already), RELAY_TOPIC, RELAY_BATCH_SIZE (default 200) and RELAY_PAUSE_MID_BATCH (seconds; if set,
each batch is published in two halves with this pause in between, so a test can SIGKILL the
relay while half a batch is on the wire and its checkpoint is not written yet).

It prints ``leading``, ``mid-batch <n>`` and ``published <n> <last position>`` lines on stdout.
SIGTERM drains and stops it like a service's shutdown does.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Sequence

import asyncpg

from shared.eventstore import EventStore, StoredEvent
from shared.relay import OutboxRelay
from shared.runner import _kafka_broker, kafka_publisher
from shared.settings import load_settings


async def main() -> None:
    settings = load_settings()
    schema = os.environ["RELAY_SCHEMA"]
    topic = os.environ["RELAY_TOPIC"]
    batch_size = int(os.environ.get("RELAY_BATCH_SIZE", "200"))
    pause = float(os.environ.get("RELAY_PAUSE_MID_BATCH", "0"))
    dsn = settings.database_url

    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4, server_settings={"search_path": schema})
    store = EventStore(pool, channel=f"bc_events_{schema}")
    broker = _kafka_broker(settings)
    await broker.start()
    publish = kafka_publisher(broker)
    batches = 0

    async def publish_in_halves(to: str, events: Sequence[StoredEvent]) -> list[object]:
        nonlocal batches
        batches += 1
        if pause and len(events) > 1:
            half = len(events) // 2
            results = await publish(to, events[:half])
            print(f"mid-batch {batches}", flush=True)
            await asyncio.sleep(pause)
            results += await publish(to, events[half:])
        else:
            results = await publish(to, events)
        print(f"published {batches} {events[-1].position}", flush=True)
        return results

    async def connect() -> asyncpg.Connection:
        return await asyncpg.connect(dsn, server_settings={"search_path": schema})

    relay = OutboxRelay(
        store, connect, publish_in_halves, topic=topic, service="relay-test", batch_size=batch_size
    )
    task = asyncio.create_task(relay.run())
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("leading" if await _became_leader(relay, task) else "standing by", flush=True)
    await stop.wait()
    await relay.stop(task)
    await broker.stop()
    await pool.close()


async def _became_leader(relay: OutboxRelay, task: asyncio.Task[None]) -> bool:
    for _ in range(200):
        if relay.is_leader or task.done():
            break
        await asyncio.sleep(0.01)
    return relay.is_leader


if __name__ == "__main__":
    asyncio.run(main())
