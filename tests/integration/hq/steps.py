"""What the HQ tests do often, on HQ running as a process (tests/support/harness.py) behind the
branch side's aggregator: publish branch domain events, read HQ's answers, wait for its count."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from services.simulator.envelopes import Made, producer
from services.simulator.envelopes import publish as publish_made
from tests.support.auth import hq_analyst
from tests.support.harness import Running, as_process, together
from tests.support.services import wait_until

#: HQ's gauges and its look for a rebuild requested elsewhere, often (the tests read both)
HQ_SETTINGS = {"metrics_refresh_seconds": 0.5, "generation_poll_seconds": 0.2}
#: the aggregator collects a batch for 0.2 s (1 s by default), so the tests wait less
FEED_SETTINGS = {"window_seconds": 0.2}


@asynccontextmanager
async def hq_behind_feed(
    database_url: str, servers: str, log_dir: Path, feed: Mapping[str, Any] = FEED_SETTINGS
) -> AsyncIterator[Running]:
    """HQ's process (its client reads as an HQ analyst), the aggregator's (``feed``) started next to it."""
    async with together(
        as_process("hqfeed", database_url, servers, settings=dict(feed), staff=None, log_dir=log_dir),
        as_process(
            "hq",
            database_url,
            servers,
            settings=HQ_SETTINGS,
            staff=None,
            headers=hq_analyst(),
            log_dir=log_dir,
        ),
    ) as (_, svc):
        yield svc


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


async def publish(hq: Running, items: Sequence[Made]) -> None:
    """Branch domain events onto their topics, as the branch services' relays would."""
    prod = producer(hq.bootstrap, linger_ms=1)
    await prod.start()
    try:
        await publish_made(prod, items)
    finally:
        await prod.stop()


async def read(hq: Running, path: str, **params: Any) -> Any:
    """HQ's answer (200) as the client's analyst: JSON, CSV text (UTF-8 with a BOM), XLSX bytes."""
    response = await hq.http.get(path, params=params)
    assert response.status_code == 200, response.text
    kind = response.headers.get("content-type", "")
    if "json" in kind:
        return response.json()
    if kind.startswith("text/csv"):  # UTF-8 with a BOM, for Excel
        assert response.content.startswith(b"\xef\xbb\xbf"), response.content[:20]
        return response.content.decode("utf-8-sig")
    return response.content if "spreadsheetml" in kind else response.text


async def connect(hq: Running) -> asyncpg.Connection:
    """A connection to HQ's schema (the caller closes it)."""
    return await asyncpg.connect(hq.database_url, server_settings={"search_path": "hq"})


async def wait_events(hq: Running, branches: Sequence[str], expected: int, timeout: float = 20) -> None:
    """Until HQ's read model counted ``expected`` events of these branches."""

    async def counted() -> bool:
        conn = await connect(hq)
        try:
            n = await conn.fetchval(
                "SELECT coalesce(sum(events), 0) FROM branch_day WHERE branch_id = ANY($1::text[])",
                list(branches),
            )
        finally:
            await conn.close()
        return int(n) == expected

    await wait_until(counted, timeout=timeout, interval=0.1, message=f"HQ never counted {expected} events")
