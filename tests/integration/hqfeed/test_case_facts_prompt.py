"""A case reaches HQ well within the aggregator's window, while KPI deltas stay one per branch per
window (the real ``hqfeed`` and ``hq`` processes, a real broker, real PostgreSQL).

The window is long here (6 s) so that "well within" is unmistakable: each complaint's facts are in
HQ's ``complaints`` table long before the window closes, HQ's per-branch count (which comes with the
KPI delta) is not, and once the window closed the branch's contract stream holds one KPI delta for
the three complaints folded in three separate batches, after their three case records.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio

from services.simulator.envelopes import EnvelopeFactory
from shared.contracts.refs import synthetic_ref
from shared.devstack import TansuBroker
from tests.integration.hq.steps import hq_behind_feed, now, publish
from tests.support.harness import Running
from tests.support.services import wait_until

pytestmark = pytest.mark.integration

WINDOW_SECONDS = 6.0
#: "well within the window": each case must be at HQ in less than a third of it
CASE_WITHIN = WINDOW_SECONDS / 3


@pytest_asyncio.fixture(loop_scope="session")
async def hq(database_url: str, private_broker: TansuBroker, tmp_path: Path) -> AsyncIterator[Running]:
    feed = {"window_seconds": WINDOW_SECONDS}  # default linger
    async with hq_behind_feed(database_url, private_broker.bootstrap_servers, tmp_path, feed) as svc:
        yield svc


async def _case_at_hq(conn: asyncpg.Connection, complaint_id: uuid.UUID) -> bool:
    return bool(
        await conn.fetchval("SELECT count(*) FROM hq.complaints WHERE complaint_id = $1", complaint_id)
    )


async def _kpi_count(conn: asyncpg.Connection, branch: str) -> int:
    n = await conn.fetchval(
        "SELECT complaints_received FROM hq.branch_complaints WHERE branch_id = $1", branch
    )
    return int(n or 0)


async def test_a_case_reaches_hq_within_the_window_and_kpis_stay_one_per_window(hq: Running) -> None:
    factory = EnvelopeFactory()
    branch = f"r01-prompt-{uuid.uuid4().hex[:6]}"
    # HQ's consumer joins its group in the background: wait until it applies something
    warm = f"r01-warm-{uuid.uuid4().hex[:6]}"
    await publish(hq, factory.complaint(warm, now(), customer_ref=synthetic_ref("warm"), steps="received"))
    conn = await asyncpg.connect(hq.database_url)
    try:

        async def warmed() -> bool:
            return await _kpi_count(conn, warm) == 1

        await wait_until(warmed, timeout=60, interval=0.1, message="HQ never counted the warm-up complaint")

        ids = [uuid.uuid4() for _ in range(3)]
        for i, cid in enumerate(ids):
            items = factory.complaint(
                branch, now(), customer_ref=synthetic_ref(f"prompt-{i}"), steps="received", complaint_id=cid
            )
            sent = time.monotonic()
            await publish(hq, items)  # one batch each: the next is published once this one is at HQ

            async def case_seen(cid: uuid.UUID = cid) -> bool:
                return await _case_at_hq(conn, cid)

            await wait_until(case_seen, timeout=30, interval=0.01, message=f"complaint {i} never reached HQ")
            took = time.monotonic() - sent
            assert took < CASE_WITHIN, f"complaint {i}: {took:.2f} s to HQ with a {WINDOW_SECONDS} s window"
            # the KPI delta waits for the window, which opened with the first complaint
            assert await _kpi_count(conn, branch) == 0, "a KPI delta went out before the window closed"

        async def counted() -> bool:
            return await _kpi_count(conn, branch) == 3

        await wait_until(counted, timeout=30, interval=0.05, message="HQ never counted the three complaints")
        records = await conn.fetch(
            "SELECT type FROM hqfeed.events WHERE stream_id = $1 ORDER BY stream_version", f"hqfeed:{branch}"
        )
        assert [r["type"] for r in records] == [
            "ComplaintFactsUpdated",
            "ComplaintFactsUpdated",
            "ComplaintFactsUpdated",
            "BranchKpisDelta",
        ]
        assert (
            await conn.fetchval("SELECT count(*) FROM hqfeed.pending_deltas WHERE branch_id = $1", branch)
            == 0
        )
    finally:
        await conn.close()
