"""Rebuilding HQ's read model from the topics gives exactly the live one (table by table), and
publishes no alert a second time — by the admin endpoint and by ``python -m services.hq rebuild``."""

from __future__ import annotations

import asyncio
import os
import random
import sys
import uuid
from datetime import timedelta
from typing import Any

import pytest

from services.hq.projections.tables import READ_MODEL_TABLES
from services.simulator.envelopes import EnvelopeFactory, Made, branch_traffic, interleave
from shared.contracts.complaint import Category
from tests.integration.hq.steps import connect, now, publish, read, wait_events
from tests.support.auth import admin
from tests.support.harness import Running
from tests.support.services import REPO_ROOT, wait_until

pytestmark = pytest.mark.integration


async def dump(hq: Running) -> dict[str, list[tuple[Any, ...]]]:
    """Every read-model table, rows sorted, floats rounded (sums of floats may differ in the last
    bits when the batches group them differently)."""
    conn = await connect(hq)
    try:
        out = {}
        for table in READ_MODEL_TABLES:
            rows = await conn.fetch(f"SELECT * FROM {table}")
            out[table] = sorted(
                (tuple(round(v, 6) if isinstance(v, float) else v for v in r.values()) for r in rows),
                key=repr,
            )
        out["alert_events"] = sorted(
            tuple(r.values()) for r in await conn.fetch("SELECT * FROM alert_events")
        )
        out["hq_events"] = [(await conn.fetchval("SELECT count(*) FROM events"),)]
        return out
    finally:
        await conn.close()


async def rebuilt(hq: Running, generation: int) -> bool:
    state = await read(hq, "/hq/status")
    return bool(state["generation"] == generation and not state["rebuilding"])


async def test_a_rebuild_from_the_topics_equals_the_live_read_model(hq: Running) -> None:
    rng = random.Random(7)
    run = uuid.uuid4().hex[:6]
    t0 = now() - timedelta(hours=2)
    branches = [f"r0{i % 3}-{run}-{i}" for i in range(12)]
    factory = EnvelopeFactory()
    traffic = [branch_traffic(factory, b, t0, rng=rng, visits=12) for b in branches]
    for i, b in enumerate(branches[:6]):  # a crisis and a repeat complainant, so alerts are rebuilt too
        traffic.append(
            factory.complaint(
                b,
                t0 + timedelta(minutes=i),
                customer_ref="cust_rebuild1",
                category=Category.system_failure,
                steps="classified",
            )
        )
    items: list[Made] = list(interleave(traffic))
    half = len(items) // 2
    await publish(hq, items[:half])  # two publishes: the live model is built from several batches
    await publish(hq, items[half:])
    await wait_events(hq, branches, len(items))
    live = await dump(hq)
    assert live["spike_alerts"] and live["repeat_alerts"] and live["alert_events"] and live["complaints"]

    analyst = await hq.http.post(f"{hq.url}/hq/admin/rebuild")  # HQ analysts read, never command
    assert analyst.status_code == 403
    response = await hq.http.post(f"{hq.url}/hq/admin/rebuild", headers=admin("hq-admin"))
    assert response.status_code == 202 and response.json()["generation"] == 2
    await wait_until(lambda: rebuilt(hq, 2), timeout=30, message="the rebuild never caught up")
    after = await dump(hq)
    for table in live:
        assert after[table] == live[table], f"{table} differs after the rebuild"
    state = await read(hq, "/hq/status")
    # HQ rebuilds from the aggregated contract: far fewer records than the branch events behind them
    assert state["consumer_group"] == "hq.branch_kpis.g2" and 0 < state["records"] < len(items)

    env = {**os.environ, "DATABASE_URL": hq.database_url}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.hq",
        "rebuild",
        "--wait",
        "--timeout",
        "30",
        cwd=REPO_ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, output.decode()
    assert b"generation 3" in output and b'"rebuilding": false' in output
    assert await dump(hq) == live
