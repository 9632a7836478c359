"""HQ as a real process against real PostgreSQL and a broker of the test's own, behind the branch
side's aggregator (``services.hqfeed``, a real process too): tests publish branch domain events, the
aggregator folds them into HQ's contract, HQ reads only that. Both read their topics from the
beginning: a private broker keeps other tests' events out of the figures."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from shared.devstack import TansuBroker
from tests.integration.hq.steps import FEED_SETTINGS, HQ_SETTINGS
from tests.support.auth import hq_analyst
from tests.support.harness import Running, as_process


@pytest_asyncio.fixture(loop_scope="session")
async def hq(database_url: str, private_broker: TansuBroker, tmp_path: Path) -> AsyncIterator[Running]:
    """HQ's process (its client reads as an HQ analyst), the aggregator's running before it."""
    bootstrap = private_broker.bootstrap_servers
    async with (
        as_process("hqfeed", database_url, bootstrap, settings=FEED_SETTINGS, staff=None, log_dir=tmp_path),
        as_process(
            "hq",
            database_url,
            bootstrap,
            settings=HQ_SETTINGS,
            staff=None,
            headers=hq_analyst(),
            log_dir=tmp_path,
        ) as svc,
    ):
        yield svc
