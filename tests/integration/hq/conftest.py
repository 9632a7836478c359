"""HQ as a real process against real PostgreSQL and a broker of the test's own, behind the branch
side's aggregator (``services.hqfeed``, a real process too): tests publish branch domain events, the
aggregator folds them into HQ's contract, HQ reads only that. Both read their topics from the
beginning: a private broker keeps other tests' events out of the figures."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from shared.devstack import TansuBroker
from tests.integration.hq.steps import hq_behind_feed
from tests.support.harness import Running


@pytest_asyncio.fixture(loop_scope="session")
async def hq(database_url: str, private_broker: TansuBroker, tmp_path: Path) -> AsyncIterator[Running]:
    """HQ's process (its client reads as an HQ analyst), the aggregator's started next to it."""
    async with hq_behind_feed(database_url, private_broker.bootstrap_servers, tmp_path) as svc:
        yield svc
