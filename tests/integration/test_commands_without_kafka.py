"""Commands need only PostgreSQL: a service starts and answers while the broker is down, publishes
once it is back, and a killed service answers its first command quickly after its restart.

Real processes, real PostgreSQL, real Tansu broker over TCP; the faults are done from outside
(a broker that is not there yet, SIGKILL).
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.contracts.refs import synthetic_ref
from shared.devstack import TansuBroker, create_topics, free_port
from shared.topology import all_topics
from tests.support.auth import lobby_manager
from tests.support.harness import service_process
from tests.support.kafka import envelopes, read_topic
from tests.support.services import wait_until

pytestmark = pytest.mark.integration


def _complaint(tag: str) -> dict[str, str]:
    return {"channel": "phone_hotline", "customer_ref": synthetic_ref(tag), "description": "queue too long"}


async def _first_201(http: httpx.AsyncClient, url: str, staff: dict[str, str], deadline: float) -> str:
    """POST a complaint until it answers 201 (connection refused while the process starts)."""
    while True:
        try:
            response = await http.post(url, json=_complaint(uuid.uuid4().hex), headers=staff)
            if response.status_code == 201:
                return str(response.json()["complaint_id"])
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"no 201 from {url}")
        await asyncio.sleep(0.05)


async def test_a_service_started_with_the_broker_down_takes_commands_and_publishes_later(
    database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"  # nothing listens there yet
    branch = f"nk-{uuid.uuid4().hex[:6]}"
    staff = lobby_manager(branch, staff_id="agent-nk")
    svc = service_process("complaint", database_url, bootstrap, log_dir=tmp_path)
    await svc.start(timeout=30)  # /health answers: HTTP is open although no broker is there
    started = time.monotonic()
    broker: TansuBroker | None = None
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            url = f"{svc.url}/branches/{branch}/complaints"
            complaint_id = await _first_201(http, url, staff, started + 5)
            print(f"first 201 without a broker {time.monotonic() - started:.2f} s after /health")
            ready = await http.get(f"{svc.url}/ready")
            body = ready.json()
            assert ready.status_code == 200, body  # commands are served: the replica is ready
            assert body["checks"]["database"] == "ok"
            assert body["checks"]["broker"] != "ok" and body["degraded"] is True
            assert set(body["checks"]["consumers"]) and "relay" in body["checks"]

            broker = TansuBroker.start(port, log_dir=tmp_path)
            await create_topics(broker.bootstrap_servers, all_topics())
            records = await read_topic(
                broker.bootstrap_servers,
                "complaint.events.v1",
                until=lambda rs: any(e.stream_id == f"complaint-{complaint_id}" for e in envelopes(rs)),
                timeout=30,
            )
            assert records

            async def settled() -> dict[str, Any] | None:
                answer = (await http.get(f"{svc.url}/ready")).json()
                return answer if not answer["degraded"] else None

            body = await wait_until(settled, timeout=30, message="broker and consumers never came up")
            assert body["checks"]["broker"] == "ok"
    finally:
        await svc.terminate()
        if broker is not None:
            broker.stop()


async def test_a_killed_service_answers_its_first_command_within_5_s_of_its_restart(
    database_url: str, kafka: Any, tmp_path: Path
) -> None:
    branch = f"kr-{uuid.uuid4().hex[:6]}"
    staff = lobby_manager(branch, staff_id="agent-kr")
    svc = service_process(
        "complaint",
        database_url,
        kafka.bootstrap_servers,
        log_dir=tmp_path,
        # the production default session: the ghost would hold a blocking start for ~18 s
        env={"KAFKA_SESSION_TIMEOUT_MS": "10000", "KAFKA_HEARTBEAT_INTERVAL_MS": "3000"},
    )
    await svc.start(timeout=30)
    url = f"{svc.url}/branches/{branch}/complaints"
    async with httpx.AsyncClient(timeout=10) as http:
        await _first_201(http, url, staff, time.monotonic() + 20)
        svc.send_signal(signal.SIGKILL)
        await svc.wait(10)
        restarted = time.monotonic()
        svc._spawn()
        try:
            await _first_201(http, url, staff, restarted + 15)
            took = time.monotonic() - restarted
            print(f"first 201 {took:.2f} s after the restart")
            assert took <= 5.0, f"first 201 after {took:.1f} s"
        finally:
            await svc.terminate()
