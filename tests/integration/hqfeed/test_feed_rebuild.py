"""The aggregator's output can be rebuilt from the domain topics: a fresh aggregator folding the
same branch events in other batches publishes other deltas, and HQ's read model from them is the
same, table by table."""

from __future__ import annotations

import random

import pytest

from tests.integration.hqfeed import folds
from tests.integration.hqfeed.test_hq_contract_equality import simulated_day
from tests.support.databases import NewDatabase

pytestmark = pytest.mark.integration


async def test_a_rebuilt_aggregator_gives_hq_the_same_read_model(new_database: NewDatabase) -> None:
    raw = [m.envelope for m in simulated_day(seed=5, branches=12)]
    urls = [await new_database() for _ in range(2)]
    live = await folds.aggregate(urls[0], raw, random.Random(1), largest=15)
    rebuilt = await folds.aggregate(urls[1], raw, random.Random(2), largest=400)
    assert len(rebuilt) < len(live)  # bigger batches: fewer, bigger deltas
    await folds.through_contract(urls[0], live, random.Random(3), largest=40)
    await folds.through_contract(urls[1], rebuilt, random.Random(4), largest=40)
    first, second = await folds.dump(urls[0]), await folds.dump(urls[1])
    assert first["branch_day"] and first["complaints"]
    for table in first:
        assert second[table] == first[table], f"{table} differs after rebuilding the aggregator"
