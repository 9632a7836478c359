"""``python -m services.followup`` as a real process (system clock): a promise made at the counter
becomes a callback task, which staff complete over HTTP; the events reach followup.events.v1."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from shared.contracts.reception import ServiceType, VisitServed
from tests.integration.followup.steps import T0, branch
from tests.support.auth import bearer
from tests.support.events import Stream
from tests.support.harness import as_process
from tests.support.kafka import publish, published
from tests.support.services import wait_until
from tests.support.texts import ref

pytestmark = pytest.mark.integration


async def test_followup_process_end_to_end(database_url: str, kafka: Any) -> None:
    bootstrap = kafka.bootstrap_servers
    b = branch()
    visit_id = uuid4()
    now = datetime.now(UTC)
    served = VisitServed(
        visit_id=visit_id,
        service_type=ServiceType.loan_application,
        counter_id="4",
        staff_id="rm-3",
        outcome=ref("application filed"),
        next_steps=ref("decision within 3 business days"),
        promised_by=now + timedelta(days=3),
        customer_ref="cust_ref_0600",
        waited_seconds=60,
        at=now,
    )
    async with as_process(
        "followup", database_url, bootstrap, headers=bearer("rm-3", [b]), staff=None
    ) as svc:
        http = svc.http
        assert (await http.get("/ready")).status_code == 200
        await publish(bootstrap, "reception.events.v1", Stream(f"visit-{visit_id}", b, at=T0).next(served))

        async def scheduled() -> list[dict[str, Any]]:
            response = await http.get(f"/branches/{b}/follow-ups", params={"status": "open"})
            return response.json()["tasks"]  # type: ignore[no-any-return]

        [task] = await wait_until(scheduled, 20, message="callback scheduled")
        assert task["kind"] == "callback" and task["owner"] == "rm-3"
        url = f"/follow-ups/{task['task_id']}"
        assert (
            await http.post(f"{url}/contact", json={"reached": True, "note": "approved"})
        ).status_code == 200
        assert (await http.post(f"{url}/complete", json={"note": "told the customer"})).status_code == 200
        events = await published(bootstrap, "followup.events.v1", lambda e: e.branch_id == b, count=3)
        assert [e.type for e in events] == ["FollowUpScheduled", "FollowUpContacted", "FollowUpCompleted"]
        assert events[-1].actor == "rm-3"
