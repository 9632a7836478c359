"""End to end through Kafka: a complaint at reception opens a case, linked to the visit, in the
complaint service (its subscriber consumes ComplaintRaisedDuringVisit from reception.events.v1)."""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

import pytest

from services.complaint.app import case_id_for
from shared.clock import FixedClock
from tests.integration.reception.steps import REF, T0, arrive
from tests.support.auth import bearer
from tests.support.harness import RunService
from tests.support.services import wait_until

pytestmark = pytest.mark.integration


async def test_a_complaint_at_reception_opens_a_linked_case(
    run_service: RunService,
) -> None:
    b = f"b-{uuid.uuid4().hex[:8]}"
    async with (
        run_service("reception") as svc,
        run_service("complaint", FixedClock(T0), staff=None, headers=bearer("lm-007", [b])) as complaints,
    ):
        visit = (await arrive(svc, b))["visit_id"]
        await svc.ok(visit, "greet")
        await svc.ok(
            visit, "confirm-need", {"service_type": "complaint", "notes": "annual fee charged twice"}
        )
        await svc.ok(visit, "guide")
        await svc.ok(visit, "queue")
        await svc.ok(visit, "raise-complaint", {"description": "the ticket machine is broken"})

        loaded = await svc.app.load_visit(UUID(visit))
        raised = [e for e in loaded.history if e.type == "ComplaintRaisedDuringVisit"]
        assert len(raised) == 2

        async def reception_text(view: dict[str, Any]) -> str:
            response = await svc.get(f"/texts/{view['text_id']}")
            assert response.status_code == 200, response.text
            return str(response.json()["text"])

        async def case(event_id: UUID) -> dict[str, Any] | None:
            response = await complaints.get(f"/complaints/{case_id_for(event_id)}")
            return response.json() if response.status_code == 200 else None  # type: ignore[no-any-return]

        first = await wait_until(lambda: case(raised[0].event_id), timeout=30, message="no case for the need")
        assert first["visit_id"] == visit and first["channel"] == "in_branch"
        assert first["customer_ref"] == REF and first["branch_id"] == b
        # the case keeps reception's text: the words are read from reception, never copied
        assert (
            first["description"]["status"] == "elsewhere" and first["description"]["context"] == "reception"
        )
        assert await reception_text(first["description"]) == "annual fee charged twice"
        second = await wait_until(lambda: case(raised[1].event_id), timeout=30, message="no case for the 2nd")
        assert second["visit_id"] == visit
        assert await reception_text(second["description"]) == "the ticket machine is broken"
