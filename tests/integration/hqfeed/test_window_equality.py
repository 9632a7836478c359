"""Case records published per batch and KPI deltas held until their window closes give HQ the same
tables as the raw fold (the live aggregator's way, ``HqFeed.hold_kpis`` + ``flush``): the merge of
a window's deltas (``services/hqfeed/deltas.py``) loses nothing and counts nothing twice, breaches
opened and closed in different batches of one window included. And a window's deltas are one per
branch: no more KPI records than windows × branches."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from tests.integration.hqfeed import folds
from tests.integration.hqfeed.test_hq_contract_equality import simulated_day
from tests.support.databases import NewDatabase

pytestmark = pytest.mark.integration


async def test_held_kpi_deltas_merged_per_window_equal_the_raw_fold(new_database: NewDatabase) -> None:
    raw = [m.envelope for m in simulated_day(seed=5)]
    urls = {}
    for side in ("raw", "held", "batch"):
        urls[side] = await new_database()
    await folds.from_raw_events(urls["raw"], raw)
    rng = random.Random(8)
    held = await folds.aggregate(urls["held"], raw, rng, largest=40, window=6)
    await folds.through_contract(urls["held"], held, rng, largest=25)
    expected, actual = await folds.dump(urls["raw"]), await folds.dump(urls["held"])
    assert expected["branch_day"] and expected["open_breaches"] is not None
    for table in expected:
        assert actual[table] == expected[table], f"{table}: held and merged deltas differ from the raw fold"

    # the same batches, each publishing its own deltas: more KPI records than once per window
    per_batch = await folds.aggregate(urls["batch"], raw, random.Random(8), largest=40)
    kinds, batch_kinds = Counter(e.type for e in held), Counter(e.type for e in per_batch)
    assert kinds["BranchKpisDelta"] < batch_kinds["BranchKpisDelta"]
    assert kinds["ComplaintFactsUpdated"] == batch_kinds["ComplaintFactsUpdated"]
