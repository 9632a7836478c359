"""The issue's fault, end to end: complaints acknowledged over HTTP, the broker restarted empty,
and HQ still ends up with every one of them — no operator (services as subprocesses, real
PostgreSQL, the embedded broker with memory storage)."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import httpx
import pytest

from shared.devstack import TansuBroker
from tests.integration.test_skeleton_e2e import complaint_body
from tests.support.auth import hq_analyst, lobby_manager
from tests.support.harness import service_process
from tests.support.services import ServiceProcess, running_services, wait_until

pytestmark = pytest.mark.integration


async def test_hq_gets_every_acknowledged_complaint_after_the_broker_restarted_empty(
    database_url: str, private_broker: TansuBroker, tmp_path: Path
) -> None:
    bootstrap = private_broker.bootstrap_servers
    branch = f"br-{uuid.uuid4().hex[:8]}"
    complaint = service_process("complaint", database_url, bootstrap, log_dir=tmp_path)
    # HQ sees the branches only through the branch side's aggregator (hqfeed.events.v1)
    feed = service_process("hqfeed", database_url, bootstrap, log_dir=tmp_path)
    hq = service_process("hq", database_url, bootstrap, log_dir=tmp_path)
    staff, analyst = lobby_manager(branch), hq_analyst()
    async with running_services(complaint, feed, hq), httpx.AsyncClient(timeout=10) as http:

        async def post(n: int) -> None:
            response = await http.post(
                f"{complaint.url}/branches/{branch}/complaints", json=complaint_body(n), headers=staff
            )
            assert response.status_code == 201, response.text

        async def hq_count() -> int:
            response = await http.get(f"{hq.url}/hq/branches/{branch}", headers=analyst)
            return int(response.json()["complaints_received"])

        async def hq_has(n: int) -> bool:
            return await hq_count() == n

        for n in range(5):
            await post(n)
        await wait_until(lambda: hq_has(5), timeout=30, message="HQ never saw the first complaints")

        await hq.terminate()  # HQ is away while the broker takes and then loses the next ones
        for n in range(5, 15):
            await post(n)
        await _relayed(http, complaint)
        private_broker.restart()  # memory storage: topics, records, consumer offsets are gone
        back = time.monotonic()
        for n in range(15, 20):  # acknowledged while the services find out
            await post(n)
        await hq.start()
        await wait_until(lambda: hq_has(20), timeout=90, message="HQ lacks acknowledged complaints")
        print(f"HQ complete {time.monotonic() - back:.1f} s after the broker came back empty")
        await asyncio.sleep(2)
        assert await hq_count() == 20, "each complaint counted once"


async def _relayed(http: httpx.AsyncClient, service: ServiceProcess) -> None:
    """Until the service's relay has nothing left to publish (its backlog gauge reads 0)."""

    async def empty() -> bool:
        text = (await http.get(f"{service.url}/metrics")).text
        published = [
            line for line in text.splitlines() if line.startswith("branchcare_relay_published_total")
        ]
        backlog = [line for line in text.splitlines() if line.startswith("branchcare_outbox_backlog_events")]
        return bool(published) and all(line.endswith(" 0.0") for line in backlog)

    await wait_until(empty, timeout=20, message="the relay never caught up")
    await asyncio.sleep(1.0)
