"""SIGTERM during load: in-flight commands finish, the relay flushes, the projection stays whole.

complaint, hqfeed and hq run as real processes. Clients keep posting complaints; all three get
SIGTERM mid-load, exit, and are started again. Then every complaint that got a 201 must be in the
store and on the topic, and HQ must count each exactly once (no loss, no double count, no half
applied batch).
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import ConsumerRecord

from shared.contracts.refs import synthetic_ref
from tests.support.auth import hq_analyst, lobby_manager
from tests.support.harness import service_process
from tests.support.kafka import envelopes, read_topic
from tests.support.services import running_services, wait_until

pytestmark = pytest.mark.integration

BRANCHES = 6
CLIENTS = 8


async def test_sigterm_under_load_loses_nothing_and_counts_everything_once(
    database_url: str, kafka: Any, tmp_path: Path
) -> None:
    bootstrap = kafka.bootstrap_servers
    run = uuid.uuid4().hex[:6]
    branches = [f"sd-{run}-{b}" for b in range(BRANCHES)]
    complaint = service_process("complaint", database_url, bootstrap, log_dir=tmp_path)
    hq = service_process("hq", database_url, bootstrap, log_dir=tmp_path)
    feed = service_process("hqfeed", database_url, bootstrap, log_dir=tmp_path)
    accepted: dict[str, str] = {}  # complaint id -> branch, for every 201
    refused: list[str] = []
    stop = asyncio.Event()
    staff = lobby_manager(*branches, staff_id="agent-1")

    async def client(n: int, http: httpx.AsyncClient) -> None:
        i = 0
        while not stop.is_set():
            branch = branches[(n + i) % BRANCHES]
            i += 1
            body = {
                "channel": "phone_hotline",
                "customer_ref": synthetic_ref(f"shutdown-{n}-{i}"),
                "description": "on hold",
            }
            try:
                response = await http.post(
                    f"{complaint.url}/branches/{branch}/complaints",
                    json=body,
                    headers=staff,
                )
            except httpx.HTTPError as exc:  # the server is going away: nothing was recorded
                refused.append(type(exc).__name__)
                await asyncio.sleep(0.01)
                continue
            if response.status_code == 201:
                accepted[response.json()["complaint_id"]] = branch
            else:
                refused.append(str(response.status_code))
                await asyncio.sleep(0.01)

    async with running_services(complaint, feed, hq):
        limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
        async with httpx.AsyncClient(timeout=30, limits=limits) as http:
            load = [asyncio.create_task(client(n, http)) for n in range(CLIENTS)]
            await wait_until(lambda: len(accepted) >= 150, timeout=20, message="the load never got going")

            complaint.send_signal(signal.SIGTERM)
            feed.send_signal(signal.SIGTERM)
            hq.send_signal(signal.SIGTERM)
            codes = await asyncio.gather(complaint.wait(25), feed.wait(25), hq.wait(25))
            stop.set()
            await asyncio.gather(*load)
        # uvicorn re-raises the SIGTERM it caught once its graceful shutdown is complete
        assert set(codes) <= {0, -signal.SIGTERM}, f"exit codes {codes}"
        for service in (complaint, feed, hq):
            assert f"{service.name} stopped" in service.log_text(), (
                f"{service.name} did not finish its shutdown"
            )
        assert refused, "the load should have met the shutdown"

        store = await asyncpg.connect(database_url)
        try:
            stored = await complaint_ids_by_branch(store, branches)
            assert set(accepted) <= set(stored), (
                f"{len(set(accepted) - set(stored))} acknowledged complaints lost"
            )
            assert len(stored) == len(accepted), "a complaint was recorded but its client was told otherwise"
            assert await relay_flushed(store), "the relay did not publish everything before exiting"

            await asyncio.gather(complaint.start(), feed.start(), hq.start())

            expected = {b: list(accepted.values()).count(b) for b in branches}
            await wait_until(
                lambda: hq_counts(hq.url, branches, expected), timeout=30, message="HQ count wrong"
            )
            await asyncio.sleep(0.5)  # let any straggling redelivery land: it must change nothing
            assert await hq_counts(hq.url, branches, expected)
        finally:
            await store.close()

    on_topic = await read_topic(
        bootstrap,
        "complaint.events.v1",
        until=lambda rs: received_ids(rs) >= set(accepted),
    )
    assert len(on_topic) > 0
    print(f"{len(accepted)} complaints accepted, {len(refused)} refused during the shutdown")


async def complaint_ids_by_branch(conn: asyncpg.Connection, branches: list[str]) -> dict[str, str]:
    rows = await conn.fetch(
        """SELECT data->>'complaint_id' AS id, branch_id FROM complaint.events
           WHERE type = 'ComplaintReceived' AND branch_id = ANY($1::text[])""",
        branches,
    )
    return {r["id"]: r["branch_id"] for r in rows}


async def relay_flushed(conn: asyncpg.Connection) -> bool:
    return bool(
        await conn.fetchval(
            """SELECT coalesce((SELECT (c.tx_id, c.position) >= (e.tx_id, e.position)
                               FROM complaint.relay_checkpoint c,
                                    (SELECT tx_id, position FROM complaint.events
                                     ORDER BY tx_id DESC, position DESC LIMIT 1) e), false)"""
        )
    )


async def hq_counts(url: str, branches: list[str], expected: dict[str, int]) -> bool:
    """HQ's public figure per branch (GET /hq/branches/{b}); more than expected fails at once."""
    async with httpx.AsyncClient(base_url=url, timeout=10, headers=hq_analyst()) as http:
        got = {b: int((await http.get(f"/hq/branches/{b}")).json()["complaints_received"]) for b in branches}
    if any(got[b] > expected[b] for b in branches):
        raise AssertionError(f"HQ counted something twice: {got} > {expected}")
    return got == expected


def received_ids(records: list[ConsumerRecord]) -> set[str]:  # type: ignore[type-arg]
    """Complaint ids of the ComplaintReceived events on a topic other tests share."""
    return {
        str(e.data.get("complaint_id"))
        for e in envelopes(records, strict=False)
        if e.type == "ComplaintReceived"
    }
