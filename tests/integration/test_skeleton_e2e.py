"""The walking skeleton end to end: a complaint posted over HTTP reaches HQ's read model via Kafka."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.contracts.refs import synthetic_ref
from tests.support.auth import hq_analyst, lobby_manager
from tests.support.harness import service_process
from tests.support.services import running_services, wait_until

pytestmark = pytest.mark.integration


def complaint_body(n: int = 0) -> dict[str, str]:
    return {
        "channel": "in_branch",
        "customer_ref": synthetic_ref(f"skeleton-{n}"),
        "description": "waited 40 min at the counter",
    }


async def test_a_complaint_posted_over_http_changes_hq_through_the_broker(
    database_url: str, kafka: Any, tmp_path: Path
) -> None:
    bootstrap = kafka.bootstrap_servers
    branch = f"br-{uuid.uuid4().hex[:8]}"
    complaint = service_process("complaint", database_url, bootstrap, log_dir=tmp_path)
    # HQ sees the branches only through the branch side's aggregator (hqfeed.events.v1)
    feed = service_process("hqfeed", database_url, bootstrap, log_dir=tmp_path)
    hq = service_process("hq", database_url, bootstrap, log_dir=tmp_path)
    staff, analyst = lobby_manager(branch), hq_analyst()
    async with running_services(complaint, feed, hq), httpx.AsyncClient(timeout=10) as http:
        summary = await http.get(f"{hq.url}/hq/branches/{branch}", headers=analyst)
        assert summary.status_code == 200 and summary.json()["complaints_received"] == 0

        created = await http.post(
            f"{complaint.url}/branches/{branch}/complaints", json=complaint_body(), headers=staff
        )
        assert created.status_code == 201, created.text
        complaint_id = created.json()["complaint_id"]
        assert created.headers["Location"] == f"/complaints/{complaint_id}"

        case = await http.get(f"{complaint.url}/complaints/{complaint_id}", headers=staff)
        assert case.status_code == 200
        assert case.json()["branch_id"] == branch and case.json()["status"] == "received"
        assert case.json()["history"][0]["type"] == "ComplaintReceived"
        assert case.json()["history"][0]["actor"] == "lobby-manager-1"

        async def hq_count() -> int:
            response = await http.get(f"{hq.url}/hq/branches/{branch}", headers=analyst)
            return int(response.json()["complaints_received"])

        await wait_until(lambda: _equals(hq_count, 1), timeout=15, message="HQ never saw the complaint")

        for n in range(1, 4):
            response = await http.post(
                f"{complaint.url}/branches/{branch}/complaints", json=complaint_body(n), headers=staff
            )
            assert response.status_code == 201
        await wait_until(lambda: _equals(hq_count, 4), timeout=15)
        other = await http.get(f"{hq.url}/hq/branches/other-{branch}", headers=analyst)
        assert other.json()["complaints_received"] == 0

        refused = await http.post(
            f"{complaint.url}/branches/{branch}/complaints", json={"channel": "pigeon"}, headers=staff
        )
        assert refused.status_code == 422
        assert (
            await http.get(f"{complaint.url}/complaints/{uuid.uuid4()}", headers=staff)
        ).status_code == 404
        anonymous = await http.post(f"{complaint.url}/branches/{branch}/complaints", json=complaint_body())
        assert anonymous.status_code == 401


async def _equals(read: Any, expected: int) -> bool:
    return bool(await read() == expected)
