"""SIGTERM while the broker is gone: the service still exits within a
supervisor's grace (15 s), having stopped what it could, instead of waiting on a Kafka group
coordinator that no longer exists until it is killed (a CI run saw complaint ignore SIGTERM for
15 s after the broker restarted empty). Nothing acknowledged is lost by it: the relay republishes
from its saved position after the restart (tests/integration/test_broker_loss_e2e.py)."""

from __future__ import annotations

import signal
import time
import uuid
from pathlib import Path

import httpx
import pytest

from shared.devstack import TansuBroker
from tests.integration.test_skeleton_e2e import complaint_body
from tests.support.auth import lobby_manager
from tests.support.harness import service_process
from tests.support.services import wait_until

pytestmark = pytest.mark.integration

GRACE_SECONDS = 15.0


async def test_sigterm_exits_within_the_grace_when_the_broker_is_gone(
    database_url: str, private_broker: TansuBroker, tmp_path: Path
) -> None:
    branch = f"br-{uuid.uuid4().hex[:8]}"
    staff = lobby_manager(branch)
    complaint = service_process("complaint", database_url, private_broker.bootstrap_servers, log_dir=tmp_path)
    await complaint.start(30)
    try:
        async with httpx.AsyncClient(timeout=10) as http:

            async def joined() -> bool:
                return "consumer group complaint.reactions joined" in complaint.log_text()

            await wait_until(joined, timeout=30, message="the consumer never joined its group")
            for n in range(3):
                response = await http.post(
                    f"{complaint.url}/branches/{branch}/complaints", json=complaint_body(n), headers=staff
                )
                assert response.status_code == 201, response.text
            private_broker.stop()  # without the bound: aiokafka waits on the coordinator, > 15 s
            # commands need only PostgreSQL: acknowledged while Kafka is away, published later
            response = await http.post(
                f"{complaint.url}/branches/{branch}/complaints", json=complaint_body(9), headers=staff
            )
            assert response.status_code == 201, response.text

        started = time.monotonic()
        complaint.send_signal(signal.SIGTERM)
        code = await complaint.wait(GRACE_SECONDS)
        took = time.monotonic() - started
        ignored = f"complaint ignored SIGTERM for {GRACE_SECONDS:.0f} s"
        assert code is not None, f"{ignored}\n{complaint.log_tail()}"
        assert code in (0, -signal.SIGTERM), complaint.log_tail()
        assert "complaint stopped" in complaint.log_text(), complaint.log_tail()
        print(f"exited {took:.1f} s after SIGTERM")
    finally:
        complaint.kill()
