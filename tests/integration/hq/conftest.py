"""HQ as a real process against real PostgreSQL and a broker of the test's own, behind the branch
side's aggregator (``services.hqfeed``, a real process too): tests publish branch domain events, the
aggregator folds them into HQ's contract, HQ reads only that. Both read their topics from the
beginning: a private broker keeps other tests' events out of the figures."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest_asyncio

from services.simulator.envelopes import EnvelopeFactory, Made, producer, publish
from shared.devstack import TansuBroker
from tests.support.auth import hq_analyst
from tests.support.services import ServiceProcess, wait_until

HQ_ENV = {
    "HQ_METRICS_REFRESH_SECONDS": "0.5",
    "HQ_GENERATION_POLL_SECONDS": "0.2",
    "LOG_LEVEL": "INFO",
}

#: the aggregator collects a batch for 0.2 s (1 s by default), so the tests wait less
FEED_ENV = {"LOG_LEVEL": "INFO", "HQFEED_WINDOW_SECONDS": "0.2"}


@dataclass
class Hq:
    """HQ's process; ``http`` reads as an HQ analyst (HQ-wide token)."""

    process: ServiceProcess
    feed: ServiceProcess
    http: httpx.AsyncClient
    broker: TansuBroker
    database_url: str
    factory: EnvelopeFactory

    @property
    def url(self) -> str:
        return self.process.url

    async def publish(self, items: Sequence[Made]) -> None:
        prod = producer(self.broker.bootstrap_servers, linger_ms=1)
        await prod.start()
        try:
            await publish(prod, items)
        finally:
            await prod.stop()

    async def get(self, path: str, **params: Any) -> Any:
        response = await self.http.get(f"{self.url}{path}", params=params)
        assert response.status_code == 200, response.text
        kind = response.headers.get("content-type", "")
        if "json" in kind:
            return response.json()
        if kind.startswith("text/csv"):  # UTF-8 with a BOM, for Excel
            assert response.content.startswith(b"\xef\xbb\xbf"), response.content[:20]
            return response.content.decode("utf-8-sig")
        return response.content if "spreadsheetml" in kind else response.text

    async def db(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.database_url, server_settings={"search_path": "hq"})

    async def wait_events(self, branches: Sequence[str], expected: int, timeout: float = 20) -> None:
        """Until HQ's read model counted ``expected`` events of these branches."""

        async def counted() -> bool:
            conn = await self.db()
            try:
                n = await conn.fetchval(
                    "SELECT coalesce(sum(events), 0) FROM branch_day WHERE branch_id = ANY($1::text[])",
                    list(branches),
                )
            finally:
                await conn.close()
            return int(n) == expected

        await wait_until(
            counted, timeout=timeout, interval=0.1, message=f"HQ never counted {expected} events"
        )


@pytest_asyncio.fixture(loop_scope="session")
async def hq(database_url: str, private_broker: TansuBroker, tmp_path: Path) -> AsyncIterator[Hq]:
    feed = ServiceProcess(
        "hqfeed",
        database_url=database_url,
        kafka_bootstrap_servers=private_broker.bootstrap_servers,
        env=FEED_ENV,
        log_dir=tmp_path,
    )
    process = ServiceProcess(
        "hq",
        database_url=database_url,
        kafka_bootstrap_servers=private_broker.bootstrap_servers,
        env=HQ_ENV,
        log_dir=tmp_path,
    )
    async with feed, process, httpx.AsyncClient(timeout=10, headers=hq_analyst()) as http:
        yield Hq(process, feed, http, private_broker, database_url, EnvelopeFactory())


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
