"""The database and broker the benchmark runs against: given by the environment, or its own."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from bench.stats import progress
from shared.devstack import (
    TansuBroker,
    create_topics,
    drop_database,
    ensure_database,
    start_embedded_postgres,
    with_database,
)
from shared.topology import all_topics

LOCAL_PG = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass
class Infra:
    server_url: str
    database_url: str
    bootstrap_servers: str
    extra_databases: list[str] = field(default_factory=list)

    async def new_database(self) -> str:
        """Another fresh database on the same server (dropped at the end), e.g. one per e2e run."""
        name = f"bench_{uuid.uuid4().hex[:8]}"
        self.extra_databases.append(name)
        return await ensure_database(self.server_url, name)


async def _reachable(url: str) -> bool:
    try:
        conn = await asyncpg.connect(url, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True


@asynccontextmanager
async def infrastructure(topics: list[str]) -> AsyncIterator[Infra]:
    """A fresh database (dropped afterwards) and a broker with ``topics`` and every events topic."""
    embedded = None
    server_url = os.environ.get("DATABASE_URL") or LOCAL_PG
    if not await _reachable(server_url):
        progress(f"no PostgreSQL at {server_url.rpartition('@')[2]}; starting an embedded one")
        embedded = start_embedded_postgres(Path(tempfile.mkdtemp(prefix="bench-pg-")))
        server_url = embedded.url
    name = f"bench_{uuid.uuid4().hex[:8]}"
    database_url = await ensure_database(server_url, name)
    broker = None
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        broker = TansuBroker.start()
        bootstrap = broker.bootstrap_servers
        progress(f"started tansu on {bootstrap}")
    await create_topics(bootstrap, [*all_topics(), *topics])
    progress(f"database {with_database(server_url, name).rpartition('@')[2]}, broker {bootstrap}")
    infra = Infra(server_url, database_url, bootstrap)
    try:
        yield infra
    finally:
        if broker is not None:
            broker.cleanup()
        for database in [name, *infra.extra_databases]:
            await drop_database(server_url, database)
        if embedded is not None:
            embedded.stop()
