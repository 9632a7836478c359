"""A lobby manager takes a complaint from receipt to close over HTTP; the events reach Kafka."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import httpx
import pytest

from tests.integration.complaint.steps import T0, new_complaint
from tests.support.auth import bearer, hq_analyst
from tests.support.harness import RunService
from tests.support.pii import account, bank_card, id_number, phone

pytestmark = pytest.mark.integration


def branch() -> str:
    return f"b-{uuid4().hex[:8]}"


async def test_full_lifecycle_over_http_with_events_on_the_topic(run_service: RunService) -> None:
    async with run_service("complaint") as svc:
        b = branch()
        created = await new_complaint(svc, b)
        cid = created["complaint_id"]
        assert created["status"] == "received" and created["version"] == 1
        due = {d["sla"]: d for d in created["deadlines"]}
        assert set(due) == {
            "complaint.acknowledge",
            "complaint.resolve",
            "complaint.regulatory",
            "complaint.progress_update",
        }
        assert due["complaint.acknowledge"]["remaining_seconds"] == 30 * 60
        assert due["complaint.regulatory"]["due_at"].startswith((T0 + timedelta(days=15)).date().isoformat())

        svc.clock.advance(timedelta(minutes=10))
        state = await svc.ok(cid, "acknowledge", {"apology": "We are sorry for the trouble."})
        assert state["status"] == "acknowledged"
        await svc.ok(cid, "classify", {"category": "system_failure", "nature": "general", "source": "atm"})
        await svc.ok(cid, "start-investigation", {"note": "ATM log requested"})
        state = await svc.ok(
            cid,
            "propose",
            {
                "solutions": [
                    {"description": "return the card today"},
                    {"description": "new card, fee waived", "compensation": "20.00"},
                ]
            },
        )
        first, second = (s["solution_id"] for s in state["solutions"])
        state = await svc.ok(cid, "reject", {"solution_id": second, "reason": "wants the old card back"})
        assert state["status"] == "solutions_proposed"
        await svc.ok(cid, "accept", {"solution_id": first})
        svc.clock.advance(timedelta(hours=2))
        state = await svc.ok(cid, "implement", {"solution_id": first, "note": "card returned"})
        assert state["status"] == "implemented" and state["resolved_at"] is not None
        await svc.ok(cid, "answer", {"answer": "Your card was returned.", "outcome": "upheld"})
        state = await svc.ok(
            cid, "close", {"result": "card returned, customer satisfied", "customer_satisfied": True}
        )
        assert state["status"] == "closed" and state["version"] == 10

        case = (await svc.get(f"/complaints/{cid}")).json()
        assert [h["type"] for h in case["history"]] == [
            "ComplaintReceived",
            "ComplaintAcknowledged",
            "ComplaintClassified",
            "InvestigationStarted",
            "SolutionsProposed",
            "SolutionRejected",
            "SolutionAccepted",
            "SolutionImplemented",
            "ComplaintAnswered",
            "ComplaintClosed",
        ]
        assert {h["actor"] for h in case["history"]} == {"lm-007"}
        status = {d["sla"]: d["status"] for d in case["deadlines"]}
        assert status == {
            "complaint.acknowledge": "met",
            "complaint.resolve": "met",
            "complaint.regulatory": "met",
            "complaint.progress_update": "cancelled",
        }

        published = await svc.published(f"complaint-{cid}", 10)
        assert [e.type for e in published[:10]] == [h["type"] for h in case["history"]]
        assert all(e.branch_id == b for e in published)

        metrics = (await svc.http.get("/metrics")).text
        assert "branchcare_complaint_time_to_acknowledge_seconds_count" in metrics
        assert "branchcare_complaint_time_to_resolve_seconds_bucket" in metrics


async def test_forbidden_transitions_are_409_with_the_reason_and_record_nothing(
    run_service: RunService,
) -> None:
    async with run_service("complaint") as svc:
        cid = (await new_complaint(svc, branch()))["complaint_id"]
        not_allowed = [
            ("start-investigation", None, "acknowledge the customer first"),
            ("implement", {"solution_id": str(uuid4())}, "not proposed"),
            ("close", {"result": "x"}, "answer the customer first"),
            ("reopen", {"reason": "x"}, "still open"),
            ("resume", None, "not on hold"),
            ("escalate", {"reason": "x", "to_level": "hq_department"}, "one level at a time"),
        ]
        for action, body, reason in not_allowed:
            response = await svc.post(f"/complaints/{cid}/{action}", body)
            assert response.status_code == 409, (action, response.text)
            assert reason in response.json()["detail"]
        assert await svc.stream_types(f"complaint-{cid}") == ["ComplaintReceived"]

        await svc.ok(cid, "escalate", {"reason": "customer asks for the branch head"})
        response = await svc.post(f"/complaints/{cid}/escalate", {"reason": "x", "to_level": "lobby_manager"})
        assert response.status_code == 409 and "never de-escalated" in response.json()["detail"]

        missing = await svc.post(f"/complaints/{uuid4()}/acknowledge")
        assert missing.status_code == 404


async def test_bad_input_is_422(run_service: RunService) -> None:
    async with run_service("complaint") as svc:
        b = branch()
        bad_creates = [
            {"channel": "fax", "customer_ref": "cust_ref_0042", "description": "x"},
            {"channel": "web", "customer_ref": "Zhang San 138", "description": "x"},  # not a reference
            {"channel": "web", "customer_ref": "cust_ref_0042", "description": "x" * 4001},
            {"channel": "web", "customer_ref": "cust_ref_0042", "description": "x", "actor": "boss"},
        ]
        for body in bad_creates:
            response = await svc.post(f"/branches/{b}/complaints", body)
            assert response.status_code == 422, body
        for raw in (phone(), id_number(), bank_card(), account()):
            for body in (
                {"channel": "web", "customer_ref": raw, "description": "x"},
                {"channel": "web", "customer_ref": "cust_ref_0042", "description": "x"}
                | {"representatives": [raw]},
            ):
                response = await svc.post(f"/branches/{b}/complaints", body)
                assert response.status_code == 422 and "shaped like a phone" in response.text
                assert raw not in response.text
        cid = (await new_complaint(svc, b))["complaint_id"]
        for action, body in [
            ("acknowledge", {"apology": "sorry", "staff_id": "someone-else"}),  # unknown field
            ("acknowledge", {"apology": "x" * 2001}),
            ("classify", {"category": "weather", "nature": "general", "source": "x"}),
            ("escalate", {"reason": ""}),
            ("propose", {"solutions": []}),
            ("propose", {"solutions": [{"description": "refund", "compensation": "-5"}]}),
        ]:
            response = await svc.post(f"/complaints/{cid}/{action}", body)
            assert response.status_code == 422, (action, body, response.text)
        assert await svc.stream_types(f"complaint-{cid}") == ["ComplaintReceived"]


async def test_two_staff_editing_one_case_cannot_overwrite_each_other(
    run_service: RunService,
) -> None:
    async with run_service("complaint") as svc:
        cid = (await new_complaint(svc, branch()))["complaint_id"]
        read = await svc.get(f"/complaints/{cid}")
        etag = read.headers["ETag"]
        assert etag == '"1"'
        first = await svc.post(f"/complaints/{cid}/acknowledge", {"apology": "sorry"}, **{"If-Match": etag})
        assert first.status_code == 200 and first.headers["ETag"] == '"2"'
        second = await svc.post(f"/complaints/{cid}/escalate", {"reason": "x"}, **{"If-Match": etag})
        assert second.status_code == 409 and second.json()["current_version"] == 2
        stale = await svc.post(f"/complaints/{cid}/escalate", {"reason": "x", "expected_version": 1})
        assert stale.status_code == 409
        fresh = await svc.post(f"/complaints/{cid}/escalate", {"reason": "x", "expected_version": 2})
        assert fresh.status_code == 200 and fresh.json()["level"] == "branch_head"
        assert await svc.stream_types(f"complaint-{cid}") == [
            "ComplaintReceived",
            "ComplaintAcknowledged",
            "ComplaintEscalated",
        ]


async def test_the_board_shows_open_cases_nearest_deadline_first_and_what_is_at_risk(
    run_service: RunService,
) -> None:
    async with run_service("complaint") as svc:
        b = branch()
        early = (await new_complaint(svc, b))["complaint_id"]
        svc.clock.advance(timedelta(minutes=10))
        late = (await new_complaint(svc, b))["complaint_id"]
        svc.clock.advance(timedelta(minutes=1))
        done = (await new_complaint(svc, b))["complaint_id"]
        await svc.ok(done, "acknowledge")
        await svc.ok(done, "classify", {"category": "other", "nature": "general", "source": "x"})
        await svc.ok(done, "start-investigation")
        await svc.ok(done, "answer", {"answer": "the fee is in the contract", "outcome": "not_upheld"})
        await svc.ok(done, "close", {"result": "explained"})

        board = (await svc.get(f"/branches/{b}/complaints", status="open")).json()
        assert [c["complaint_id"] for c in board["complaints"]] == [early, late]
        assert board["complaints"][0]["next_sla"] == "complaint.acknowledge"
        assert board["complaints"][0]["sla_status"] == "on_track"

        svc.clock.set(T0 + timedelta(minutes=25))  # 80 % of the first case's 30 minutes is used
        assert await svc.app.scheduler.tick() >= 1
        at_risk = (await svc.get(f"/branches/{b}/complaints", status="open", sla="at_risk")).json()
        assert [c["complaint_id"] for c in at_risk["complaints"]] == [early]
        assert at_risk["complaints"][0]["remaining_seconds"] == 5 * 60
        assert "SlaAtRisk" in await svc.stream_types(f"complaint-{early}")

        closed = (await svc.get(f"/branches/{b}/complaints", status="closed")).json()
        assert [c["complaint_id"] for c in closed["complaints"]] == [done]
        assert (await svc.get(f"/branches/{b}/complaints", status="nonsense")).status_code == 422
        metrics = (await svc.http.get("/metrics")).text
        assert 'branchcare_sla_at_risk{service="complaint",sla="complaint.acknowledge"} 1.0' in metrics


async def test_merging_cases_into_an_incident(run_service: RunService) -> None:
    async with run_service("complaint") as svc:
        b = branch()
        one = (await new_complaint(svc, b))["complaint_id"]
        two = (await new_complaint(svc, b))["complaint_id"]
        first = await svc.ok(one, "merge", {"cause": "online banking outage 10:00-11:30"})
        incident = first["incident_id"]
        await svc.ok(two, "merge", {"cause": "online banking outage 10:00-11:30", "incident_id": incident})
        listed = (await svc.get(f"/incidents/{incident}")).json()
        assert {c["complaint_id"] for c in listed["complaints"]} == {one, two}
        again = await svc.post(f"/complaints/{two}/merge", {"cause": "x", "incident_id": incident})
        assert again.status_code == 409


async def test_an_incident_across_branches_shows_each_reader_only_their_branches(
    run_service: RunService,
) -> None:
    async with run_service("complaint") as svc:
        a, b, c = branch(), branch(), branch()
        one = (await new_complaint(svc, a))["complaint_id"]
        two = (await new_complaint(svc, b))["complaint_id"]
        incident = (await svc.ok(one, "merge", {"cause": "core banking outage"}))["incident_id"]
        await svc.ok(two, "merge", {"cause": "core banking outage", "incident_id": incident})

        async def seen(headers: dict[str, str]) -> set[str] | int:
            response = await svc.http.get(f"/incidents/{incident}", headers=headers)
            if response.status_code != 200:
                return response.status_code
            return {c["complaint_id"] for c in response.json()["complaints"]}

        assert await seen(bearer("lm-a", [a], ["lobby_manager"])) == {one}
        assert await seen(bearer("lm-b", [b], ["counter_staff"])) == {two}
        assert await seen(hq_analyst()) == {one, two}
        staff_of_c = bearer("lm-c", [c], ["lobby_manager"])
        assert await seen(staff_of_c) == 403
        refused = await svc.http.post(f"/complaints/{one}/escalate", json={}, headers=staff_of_c)
        assert refused.status_code == 403 and set(refused.json()) == {"detail"}  # not a 422 about the body
        assert await svc.stream_types(f"complaint-{one}") == [
            "ComplaintReceived",
            "ComplaintMergedIntoIncident",
        ]


async def test_the_actor_comes_from_the_request_identity(run_service: RunService) -> None:
    """The actor of every event is the bearer token's subject: a staff header or a body field
    naming someone else changes nothing, and without a token nothing happens."""
    async with run_service("complaint") as svc:
        b = branch()
        cid = (await new_complaint(svc, b))["complaint_id"]
        head = {**bearer("bh-001", [b], ["branch_head"]), "X-Staff-Id": "mallory"}
        response = await svc.http.post(
            f"/complaints/{cid}/acknowledge", json={"apology": "sorry"}, headers=head
        )
        assert response.status_code == 200
        history = (await svc.get(f"/complaints/{cid}")).json()["history"]
        assert [h["actor"] for h in history] == ["lm-007", "bh-001"]
        smuggled = await svc.post(f"/complaints/{cid}/resume", {"actor": "mallory"})
        assert smuggled.status_code == 422  # unknown fields are refused
        anonymous = await svc.http.post(
            f"/complaints/{cid}/resume", headers={"X-Staff-Id": "bh-001"}, auth=None
        )
        assert anonymous.status_code == 401
        assert len((await svc.get(f"/complaints/{cid}")).json()["history"]) == 2
        assert isinstance(svc.http, httpx.AsyncClient)


async def test_an_urgent_or_major_case_is_escalated_at_once(run_service: RunService) -> None:
    async with run_service("complaint") as svc:
        b = branch()
        cid = (await new_complaint(svc, b))["complaint_id"]
        await svc.ok(cid, "acknowledge")
        urgent = {"category": "system_failure", "nature": "major", "source": "atm", "urgency": "urgent"}
        state = await svc.ok(cid, "classify", urgent)
        assert state["level"] == "branch_head"
        escalated = (await svc.get(f"/complaints/{cid}")).json()["history"][-1]
        assert escalated["type"] == "ComplaintEscalated" and escalated["data"]["automatic"]
        await svc.ok(cid, "escalate", {"reason": "press enquiry", "to_level": "hq_department"})
        refused = await svc.post(f"/complaints/{cid}/escalate", {"reason": "x"})
        assert refused.status_code == 409 and "highest level" in refused.json()["detail"]
        await svc.app.refresh_gauges()
        metrics = (await svc.http.get("/metrics")).text
        assert (
            'branchcare_complaint_escalations_total{to_level="branch_head",trigger="classification"}'
            in metrics
        )
        assert 'branchcare_complaint_escalations_total{to_level="hq_department",trigger="manual"}' in metrics
        assert 'branchcare_complaints_by_status{status="classified"} 1.0' in metrics


async def test_the_case_lists_the_steps_its_decider_takes_now(run_service: RunService) -> None:
    async with run_service("complaint") as svc:
        cid = (await new_complaint(svc, branch()))["complaint_id"]
        shown = (await svc.get(f"/complaints/{cid}")).json()["allowed_steps"]
        steps = {s["step"]: s for s in shown}
        assert steps["acknowledge"] == {"step": "acknowledge", "allowed": True, "reason": None}
        assert not steps["close"]["allowed"] and "answer the customer first" in steps["close"]["reason"]
        after = await svc.ok(cid, "acknowledge", {"apology": "We are sorry."})
        steps = {s["step"]: s for s in after["allowed_steps"]}
        assert not steps["acknowledge"]["allowed"] and steps["classify"]["allowed"]
