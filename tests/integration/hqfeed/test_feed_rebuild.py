"""The aggregator's output can be rebuilt from the domain topics: a fresh aggregator folding the
same branch events in other batches publishes other deltas, and HQ's read model from them is the
same, table by table."""

from __future__ import annotations

import random
import uuid

import pytest

from shared.devstack import drop_database, ensure_database
from tests.integration.hqfeed import folds
from tests.integration.hqfeed.test_hq_contract_equality import simulated_day

pytestmark = pytest.mark.integration


async def test_a_rebuilt_aggregator_gives_hq_the_same_read_model(pg_server_url: str) -> None:
    raw = [m.envelope for m in simulated_day(seed=5, branches=12)]
    urls = [await ensure_database(pg_server_url, f"bc_test_feed_{uuid.uuid4().hex[:12]}") for _ in range(2)]
    try:
        live = await folds.aggregate(urls[0], raw, random.Random(1), largest=15)
        rebuilt = await folds.aggregate(urls[1], raw, random.Random(2), largest=400)
        assert len(rebuilt) < len(live)  # bigger batches: fewer, bigger deltas
        await folds.through_contract(urls[0], live, random.Random(3), largest=40)
        await folds.through_contract(urls[1], rebuilt, random.Random(4), largest=40)
        first, second = await folds.dump(urls[0]), await folds.dump(urls[1])
        assert first["branch_day"] and first["complaints"]
        for table in first:
            assert second[table] == first[table], f"{table} differs after rebuilding the aggregator"
    finally:
        for url in urls:
            await drop_database(pg_server_url, url.rsplit("/", 1)[1])
