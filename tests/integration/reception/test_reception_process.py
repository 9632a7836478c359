"""``python -m services.reception`` as a real process: starts, migrates, serves, stops on SIGTERM."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.support.auth import bearer
from tests.support.services import ServiceProcess

pytestmark = pytest.mark.integration


async def test_the_service_runs_as_a_process(database_url: str, kafka: Any) -> None:
    b = f"b-{uuid.uuid4().hex[:8]}"
    staff = bearer("lm-1", [b])
    async with (
        ServiceProcess(
            "reception", database_url=database_url, kafka_bootstrap_servers=kafka.bootstrap_servers
        ) as proc,
        httpx.AsyncClient(base_url=proc.url, timeout=10) as http,
    ):
        created = await http.post(f"/branches/{b}/visits", json={"service_type": "enquiry"}, headers=staff)
        assert created.status_code == 201 and created.json()["ticket"] == "E001"
        board = (await http.get(f"/branches/{b}/lobby", headers=staff)).json()
        assert [w["ticket"] for w in board["waiting"]] == ["E001"]
        assert (await http.get("/ready")).json()["ready"] is True
        assert "branchcare_reception_queue_length" in (await http.get("/metrics")).text
        assert (await http.get(f"/branches/{b}/lobby")).status_code == 401
    # a graceful stop: uvicorn re-raises SIGTERM after shutting down, hence -15 rather than 0
    assert proc.returncode in (0, -15)
    assert "reception stopped" in proc.log_text()
