"""The relay process of :mod:`bench.relay_cpu`: a service's outbox relay, alone in its process.

Run by path (``python bench/relay_cpu_child.py``) with the checkout under test first on
``PYTHONPATH``, so the same driver measures this checkout and another one (``--against``). It
builds the relay exactly as :mod:`shared.runner` does (its broker settings, ``kafka_publisher``,
``BrokerCheck``, ``relay_batch_size``) and talks over stdin/stdout, one line each way:

- ``go``: start relaying (``ready`` was printed once the broker connected);
- ``stats``: print ``stats {json}`` — publish calls, events, statements the relay sent to
  PostgreSQL (its round trips), and per call the age of its oldest event when Kafka acknowledged
  it (now − ``recorded_at``) — and reset them;
- ``stop`` (or end of input): drain, stop and exit.

Environment: DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS, RELAY_SCHEMA, RELAY_TOPIC.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from shared.eventstore import EventStore, StoredEvent
from shared.relay import OutboxRelay
from shared.relay_check import BrokerCheck
from shared.runner import _kafka_broker, kafka_publisher
from shared.settings import load_settings


async def main() -> None:
    settings = load_settings()
    schema, topic = os.environ["RELAY_SCHEMA"], os.environ["RELAY_TOPIC"]
    dsn = settings.database_url
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2, server_settings={"search_path": schema})
    store = EventStore(pool, channel=f"bc_events_{schema}")
    broker = _kafka_broker(settings)
    await broker.start()
    publish = kafka_publisher(broker)
    calls = events = statements = 0
    ages: list[float] = []

    def counted_statement(_: object) -> None:
        nonlocal statements
        statements += 1

    async def counted(to: str, batch: Sequence[StoredEvent]) -> Sequence[object] | None:
        nonlocal calls, events
        results = await publish(to, batch)
        calls += 1
        events += len(batch)
        recorded = datetime.fromisoformat(json.loads(batch[0].json)["recorded_at"])
        ages.append(time.time() - recorded.timestamp())
        return results

    async def connect() -> asyncpg.Connection:
        conn = await asyncpg.connect(dsn, server_settings={"search_path": schema}, timeout=10)
        conn.add_query_logger(counted_statement)
        return conn

    relay = OutboxRelay(
        store,
        connect,
        counted,
        topic=topic,
        service="bench",
        batch_size=settings.relay_batch_size,
        check=BrokerCheck(
            settings.kafka_bootstrap_servers, topic, default_partitions=settings.kafka_topic_partitions
        ),
    )
    reader = asyncio.StreamReader()
    protocol = asyncio.StreamReaderProtocol(reader)
    await asyncio.get_running_loop().connect_read_pipe(lambda: protocol, sys.stdin)

    async def line() -> str:
        return (await reader.readline()).decode().strip()

    print("ready", flush=True)
    task: asyncio.Task[None] | None = None
    while (command := await line()) not in ("stop", ""):
        if command == "go" and task is None:
            task = asyncio.create_task(relay.run())
        elif command == "stats":
            stats = {"calls": calls, "events": events, "statements": statements, "ages": ages}
            print("stats " + json.dumps(stats), flush=True)
            calls = events = statements = 0
            ages = []
    if task is not None:
        await relay.stop(task)
    await broker.stop()
    await store.notifier.close()
    await pool.close()


if __name__ == "__main__":
    try:
        import uvloop  # as the services run (shared.runner.server_config: loop "auto")
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())
