"""``python -m services.feedback`` as a real process (system clock): a served visit gets a survey,
sent through the local outbox, answered over HTTP, published on feedback.events.v1."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest

from services.feedback.domain import survey_id_for
from shared.contracts.reception import ServiceType, VisitServed
from tests.integration.feedback.steps import T0, branch
from tests.support.auth import bearer
from tests.support.events import Stream
from tests.support.harness import as_process
from tests.support.kafka import publish, published
from tests.support.services import wait_until
from tests.support.texts import ref

pytestmark = pytest.mark.integration


async def test_feedback_process_end_to_end(database_url: str, kafka: Any) -> None:
    bootstrap = kafka.bootstrap_servers
    b = branch()
    visit_id = uuid4()
    served = VisitServed(
        visit_id=visit_id,
        service_type=ServiceType.card_service,
        counter_id="1",
        staff_id="teller-5",
        outcome=ref("card replaced"),
        customer_ref="cust_ref_0500",
        waited_seconds=60,
        at=datetime.now(UTC),
    )
    async with as_process(
        "feedback",
        database_url,
        bootstrap,
        settings={"dispatch_period": 0.05},
        headers=bearer("cs-1", [b]),
        staff=None,
    ) as svc:
        http = svc.http
        assert (await http.get("/ready")).status_code == 200
        await publish(bootstrap, "reception.events.v1", Stream(f"visit-{visit_id}", b, at=T0).next(served))
        survey_id = survey_id_for(f"visit:{visit_id}")

        async def sent() -> bool:
            response = await http.get(f"/surveys/{survey_id}")
            return response.status_code == 200 and response.json()["status"] == "sent"

        await wait_until(sent, 20, message="survey sent")
        answer = await http.post(f"/surveys/{survey_id}/responses", json={"score": 5, "comment": "很好"})
        assert answer.status_code == 201, answer.text
        events = await published(bootstrap, "feedback.events.v1", lambda e: e.branch_id == b, count=3)
        assert [e.type for e in events] == ["SurveyRequested", "SurveySent", "SurveyAnswered"]
        metrics = (await http.get("/metrics")).text
        assert 'branchcare_feedback_surveys_answered_total{subject_type="visit"} 1.0' in metrics
