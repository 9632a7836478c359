"""Choreography: other contexts' events, published with proper envelopes to their topics, open,
update and reopen complaint cases; a redelivered event changes nothing."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest

from services.complaint.app import case_id_for
from shared.contracts.feedback import NegativeFeedbackReceived
from shared.contracts.followup import VerificationFailed
from shared.contracts.reception import ComplaintRaisedDuringVisit, VisitArrived, VisitLeft
from shared.registry import REGISTRY
from tests.integration.complaint.steps import T0, new_complaint
from tests.support.events import envelope_of
from tests.support.harness import Running, RunService
from tests.support.kafka import publish
from tests.support.services import wait_until
from tests.support.texts import ref

pytestmark = pytest.mark.integration


async def case_when(
    svc: Running, complaint_id: UUID, ready: Any = None, timeout: float = 15
) -> dict[str, Any]:
    """The case once it exists (and ``ready(case)`` holds)."""

    async def fetch() -> dict[str, Any] | None:
        response = await svc.get(f"/complaints/{complaint_id}")
        if response.status_code != 200:
            return None
        case: dict[str, Any] = response.json()
        return case if ready is None or ready(case) else None

    return await wait_until(fetch, timeout=timeout, message=f"complaint {complaint_id} not as expected")


async def test_a_complaint_raised_during_a_visit_opens_one_linked_case(
    run_service: RunService,
) -> None:
    async with run_service("complaint") as svc:
        branch, visit = f"b-{uuid4().hex[:8]}", uuid4()
        svc.auth.allow(branch)  # its cases come from events
        stream = f"visit-{visit}"
        arrived = envelope_of(
            VisitArrived(visit_id=visit, customer_ref="cust_ref_0099", arrival="walk_in", at=T0),
            stream_id=stream,
            version=1,
            branch_id=branch,
            at=T0,
        )
        raised = envelope_of(
            ComplaintRaisedDuringVisit(
                visit_id=visit,
                customer_ref="cust_ref_0099",
                description=ref("rude teller at counter 3"),
                at=T0,
            ),
            stream_id=stream,
            version=2,
            branch_id=branch,
            at=T0,
        )
        await publish(svc.bootstrap, "reception.events.v1", arrived, raised, raised)  # delivered twice
        cid = case_id_for(raised.event_id)
        case = await case_when(svc, cid)
        assert case["channel"] == "in_branch" and case["visit_id"] == str(visit)
        assert case["branch_id"] == branch and case["received_at"].startswith("2026-11-26T01:00")
        received = case["history"][0]
        assert received["data"]["source_event_id"] == str(raised.event_id)
        assert received["actor"] == "staff-9"
        assert "complaint.resolve" not in {d["sla"] for d in case["deadlines"]}  # still in the branch

        left_at = T0.replace(minute=45)
        left = envelope_of(
            VisitLeft(visit_id=visit, at=left_at), stream_id=stream, version=3, branch_id=branch, at=T0
        )
        await publish(svc.bootstrap, "reception.events.v1", left, raised, left)  # and redelivered again
        case = await case_when(svc, cid, lambda c: c["customer_left_at"] is not None)
        resolve = next(d for d in case["deadlines"] if d["sla"] == "complaint.resolve")
        assert resolve["due_at"].startswith("2026-11-27T01:45")  # 24 h after the customer left
        await svc.get("/health")
        types = await svc.stream_types(f"complaint-{cid}")
        assert types == ["ComplaintReceived", "CustomerLeftBranch"]
        board = (await svc.get(f"/branches/{branch}/complaints")).json()
        assert [c["complaint_id"] for c in board["complaints"]] == [str(cid)]


async def test_negative_feedback_describing_a_complaint_opens_one_survey_case(
    run_service: RunService,
) -> None:
    async with run_service("complaint") as svc:
        branch, survey, visit = f"b-{uuid4().hex[:8]}", uuid4(), uuid4()
        svc.auth.allow(branch)  # its cases come from events

        def answer(describes: bool, comment: str) -> Any:
            data = NegativeFeedbackReceived(
                survey_id=survey,
                subject=f"visit:{visit}",
                customer_ref="cust_ref_0100",
                score=1,
                comment=ref(comment, "feedback"),
                describes_complaint=describes,
                at=T0,
            )
            return envelope_of(data, stream_id=f"survey-{uuid4()}", version=1, branch_id=branch, at=T0)

        just_unhappy = answer(False, "slow")
        complaint = answer(True, "charged twice for the transfer")
        await publish(svc.bootstrap, "feedback.events.v1", just_unhappy, complaint, complaint)
        case = await case_when(svc, case_id_for(complaint.event_id))
        assert case["channel"] == "survey"
        # the case keeps feedback's reference: the comment stays with feedback
        assert case["description"]["context"] == "feedback" and case["description"]["status"] == "elsewhere"
        assert case["description"]["text_id"] == str(
            ref("charged twice for the transfer", "feedback").text_id
        )
        assert case["visit_id"] == str(visit)
        board = (await svc.get(f"/branches/{branch}/complaints")).json()
        assert [c["complaint_id"] for c in board["complaints"]] == [str(case_id_for(complaint.event_id))]
        assert (await svc.get(f"/complaints/{case_id_for(just_unhappy.event_id)}")).status_code == 404


async def test_a_failed_verification_reopens_the_case_once(run_service: RunService) -> None:
    async with run_service("complaint") as svc:
        branch = f"b-{uuid4().hex[:8]}"
        cid = (await new_complaint(svc, branch))["complaint_id"]
        await svc.ok(cid, "acknowledge")
        await svc.ok(cid, "classify", {"category": "product_defect", "nature": "general", "source": "app"})
        await svc.ok(cid, "start-investigation")
        solution = (await svc.ok(cid, "propose", {"solutions": [{"description": "refund the fee"}]}))[
            "solutions"
        ]
        await svc.ok(cid, "accept", {"solution_id": solution[0]["solution_id"]})
        await svc.ok(cid, "implement", {"solution_id": solution[0]["solution_id"]})
        await svc.ok(cid, "answer", {"answer": "refunded"})
        await svc.ok(cid, "close", {"result": "refunded"})
        task = uuid4()
        failed = envelope_of(
            VerificationFailed(
                task_id=task, complaint_id=UUID(cid), finding=ref("refund never arrived"), at=T0
            ),
            stream_id=f"followup-{task}",
            version=1,
            branch_id=branch,
            at=T0,
        )
        await publish(svc.bootstrap, "followup.events.v1", failed, failed)
        case = await case_when(svc, UUID(cid), lambda c: c["status"] == "reopened")
        assert case["cycle"] == 2
        reopened = case["history"][-1]
        assert reopened["type"] == "ComplaintReopened"
        assert reopened["data"]["source_event_id"] == str(failed.event_id)
        assert {d["sla"]: d["status"] for d in case["deadlines"]}["complaint.acknowledge"] == "on_track"
        await publish(svc.bootstrap, "followup.events.v1", failed)
        sentinel = envelope_of(
            VerificationFailed(task_id=uuid4(), complaint_id=uuid4(), finding=ref("unknown case"), at=T0),
            stream_id=f"followup-{uuid4()}",
            version=1,
            branch_id=branch,
            at=T0,
        )
        await publish(svc.bootstrap, "followup.events.v1", sentinel)
        await wait_until(lambda: consumed(svc, sentinel.stream_id), timeout=15)
        assert (await svc.stream_types(f"complaint-{cid}")).count("ComplaintReopened") == 1


async def consumed(svc: Running, stream_id: str) -> bool:
    async with svc.app.pool.acquire() as conn:
        version = await conn.fetchval(
            "SELECT version FROM projection_positions WHERE stream_id = $1", stream_id
        )
    return bool(version)


async def test_a_reaction_run_twice_outside_the_runner_creates_nothing_twice(
    run_service: RunService,
) -> None:
    """Idempotent by construction, not only by the runner's dedup (e.g. a rebuilt consumer group)."""
    async with run_service("complaint") as svc:
        visit = uuid4()
        env = envelope_of(
            ComplaintRaisedDuringVisit(
                visit_id=visit, customer_ref="cust_ref_0101", description=ref("x"), at=T0
            ),
            stream_id=f"visit-{visit}",
            version=1,
            branch_id="b-direct",
            at=T0,
        )
        data = REGISTRY.decode(env)
        for _ in range(2):
            async with svc.app.pool.acquire() as conn, conn.transaction():
                await svc.app.react(conn, env, data)
        assert await svc.stream_types(f"complaint-{case_id_for(env.event_id)}") == ["ComplaintReceived"]
