"""The follow-up service for real: in-process uvicorn on a FixedClock, real PostgreSQL, real broker.

Other contexts' events are published as envelopes to their topics; what the service does is seen
through its HTTP API, its event store and what it publishes on followup.events.v1.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from services.followup.service import refresh_gauges
from shared.contracts.complaint import (
    Channel,
    ComplaintClosed,
    ComplaintReceived,
    ProgressUpdateGiven,
    SolutionImplemented,
)
from shared.contracts.feedback import NegativeFeedbackReceived
from shared.contracts.reception import ServiceType, VisitServed
from tests.integration.followup.steps import T0, branch, list_tasks, wait_tasks
from tests.support.events import Stream
from tests.support.harness import running
from tests.support.kafka import publish, published
from tests.support.services import wait_until
from tests.support.texts import ref

pytestmark = pytest.mark.integration

COMPLAINTS = "complaint.events.v1"
RECEPTION = "reception.events.v1"
FEEDBACK = "feedback.events.v1"
FOLLOWUP = "followup.events.v1"


def received(complaint_id: UUID) -> ComplaintReceived:
    return ComplaintReceived(
        complaint_id=complaint_id,
        channel=Channel.in_branch,
        customer_ref="cust_ref_0042",
        description=ref("card swallowed by the ATM"),
        received_at=T0,
    )


def served(visit_id: UUID, **kw: Any) -> VisitServed:
    fields: dict[str, Any] = {
        "visit_id": visit_id,
        "service_type": ServiceType.transfer,
        "counter_id": "3",
        "staff_id": "teller-2",
        "outcome": ref("cross-bank transfer submitted", "reception"),
        "next_steps": ref("funds arrive within 2 business days", "reception"),
        "promised_by": T0 + timedelta(days=2),
        "customer_ref": "cust_ref_0007",
        "waited_seconds": 300,
        "at": T0,
    }
    return VisitServed(**(fields | kw))


async def test_progress_updates_every_24h_while_open_and_all_cancelled_at_close(
    database_url: str, kafka: Any
) -> None:
    bootstrap = kafka.bootstrap_servers
    b = branch()
    complaint_id = uuid4()
    case = Stream(f"complaint-{complaint_id}", b, at=T0)
    async with running("followup", database_url, bootstrap) as svc:
        await publish(bootstrap, COMPLAINTS, case.next(received(complaint_id)))
        [first] = await wait_tasks(svc, b, 1)
        assert first["kind"] == "progress_update" and first["subject"] == f"complaint:{complaint_id}"
        assert first["due_at"] == (T0 + timedelta(hours=24)).isoformat().replace("+00:00", "Z")
        assert first["customer_ref"] == "cust_ref_0042" and first["owner"] == "lm-007"

        # it falls due: SlaBreached (followup.due) and the next update is scheduled 24 h after
        svc.clock.advance(timedelta(hours=24, minutes=1))
        await svc.tick()
        open_tasks = await wait_tasks(svc, b, 2)
        [overdue] = await list_tasks(svc, b, "overdue")
        [upcoming] = await list_tasks(svc, b, "due")
        assert overdue["task_id"] == first["task_id"] and overdue["overdue"]
        assert upcoming["due_at"] == (T0 + timedelta(hours=48)).isoformat().replace("+00:00", "Z")
        assert upcoming["previous_task_id"] == first["task_id"]
        assert {t["task_id"] for t in open_tasks} == {first["task_id"], upcoming["task_id"]}
        [breach] = await published(
            bootstrap,
            FOLLOWUP,
            lambda e: e.type == "SlaBreached" and e.data["subject_id"] == first["task_id"],
        )
        assert breach.data["sla"] == "followup.due" and breach.branch_id == b

        # done late: no second successor (one successor per task, whoever asks first)
        assert (
            await svc.post(f"/follow-ups/{first['task_id']}/contact", {"reached": True, "note": "told"})
        ).is_success
        done = await svc.post(f"/follow-ups/{first['task_id']}/complete", {"note": "case is with HQ"})
        assert done.status_code == 200 and done.json()["status"] == "completed"
        await published(bootstrap, FOLLOWUP, lambda e: e.type == "FollowUpCompleted" and e.branch_id == b)

        # the complaint closes: every open progress update is cancelled, and no new one appears
        await publish(
            bootstrap,
            COMPLAINTS,
            case.next(ComplaintClosed(complaint_id=complaint_id, at=T0, result=ref("ok"))),
        )
        cancelled = await wait_until(lambda: list_tasks(svc, b, "cancelled"), 15)
        assert [t["task_id"] for t in cancelled] == [upcoming["task_id"]]
        assert await list_tasks(svc, b, "open") == []
        detail = (await svc.http.get(f"/follow-ups/{upcoming['task_id']}")).json()
        assert detail["close_rule"] == "The complaint was closed." and detail["close_note"] is None
        assert detail["history"][-1]["type"] == "FollowUpCancelled"
        assert detail["history"][-1]["data"]["automatic"] is True

        # metrics: breaches, completion time, gauges (no branch labels)
        await refresh_gauges(svc.ctx)
        metrics = (await svc.http.get("/metrics")).text
        assert 'branchcare_sla_breaches_total{service="followup",sla="followup.due"}' in metrics
        assert 'branchcare_followup_completion_seconds_count{kind="progress_update"}' in metrics
        assert 'branchcare_followup_tasks_overdue{kind="progress_update"}' in metrics
        assert b not in metrics


async def test_solution_implemented_leads_to_verification_and_a_failure_publishes_verification_failed(
    database_url: str, kafka: Any
) -> None:
    bootstrap = kafka.bootstrap_servers
    b = branch()
    complaint_id = uuid4()
    case = Stream(f"complaint-{complaint_id}", b, at=T0)
    implemented = SolutionImplemented(
        complaint_id=complaint_id, solution_id=uuid4(), at=T0 + timedelta(hours=2)
    )
    async with running("followup", database_url, bootstrap) as svc:
        await publish(bootstrap, COMPLAINTS, case.next(received(complaint_id)), case.next(implemented))
        [task] = await wait_tasks(svc, b, 1, kind="verification")
        assert task["due_at"] == (T0 + timedelta(days=3, hours=2)).isoformat().replace("+00:00", "Z")
        detail = (await svc.http.get(f"/follow-ups/{task['task_id']}")).json()
        assert [d["sla"] for d in detail["deadlines"]] == ["followup.verification"]

        missing = await svc.post(f"/follow-ups/{task['task_id']}/complete", {"note": "checked"})
        assert missing.status_code == 409 and "verified" in missing.json()["detail"]
        failed = await svc.post(
            f"/follow-ups/{task['task_id']}/complete",
            {"note": "the fee was never refunded", "verified": False},
        )
        assert failed.status_code == 200, failed.text
        assert failed.json()["verified"] is False

        [event] = await published(
            bootstrap, FOLLOWUP, lambda e: e.type == "VerificationFailed" and e.branch_id == b
        )
        assert event.data["complaint_id"] == str(complaint_id)
        # the finding is follow-up's text: the event carries its reference, follow-up the words
        finding = event.data["finding"]
        assert finding["context"] == "followup" and "refunded" not in str(event.data)
        kept = await svc.http.get(f"/texts/{finding['text_id']}")
        assert kept.json()["text"] == "the fee was never refunded"
        assert event.stream_id == f"followup-{task['task_id']}" and event.actor == "lm-007"


async def test_callback_after_a_promise_and_recovery_after_negative_feedback(
    database_url: str, kafka: Any
) -> None:
    bootstrap = kafka.bootstrap_servers
    b = branch()
    visit_id, survey_id = uuid4(), uuid4()
    negative = NegativeFeedbackReceived(
        survey_id=survey_id,
        subject=f"visit:{visit_id}",
        customer_ref="cust_ref_0007",
        score=1,
        comment=ref("rude, call me on ***********"),
        describes_complaint=False,
        at=T0 + timedelta(hours=3),
    )
    async with running("followup", database_url, bootstrap) as svc:
        await publish(bootstrap, RECEPTION, Stream(f"visit-{visit_id}", b, at=T0).next(served(visit_id)))
        await publish(
            bootstrap, RECEPTION, Stream(f"visit-{uuid4()}", b, at=T0).next(served(uuid4(), promised_by=None))
        )
        await publish(
            bootstrap, FEEDBACK, Stream(f"survey-{survey_id}", b, at=T0).next(negative, actor="anonymous")
        )
        tasks = await wait_tasks(svc, b, 2)
        by_kind = {t["kind"]: t for t in tasks}
        callback, recovery = by_kind["callback"], by_kind["service_recovery"]
        assert callback["due_at"] == (T0 + timedelta(days=2)).isoformat().replace("+00:00", "Z")
        assert callback["owner"] == "teller-2" and callback["subject"] == f"visit:{visit_id}"
        assert recovery["due_at"] == (T0 + timedelta(hours=27)).isoformat().replace("+00:00", "Z")
        assert recovery["owner"] is None and recovery["customer_ref"] == "cust_ref_0007"

        # the lobby manager assigns the recovery, the new owner calls and completes it
        assigned = await svc.post(f"/follow-ups/{recovery['task_id']}/reassign", {"owner": "lm-009"})
        assert assigned.status_code == 200 and assigned.json()["owner"] == "lm-009"
        not_yet = await svc.post(f"/follow-ups/{recovery['task_id']}/complete", {"note": "x"})
        assert not_yet.status_code == 409 and "reached" in not_yet.json()["detail"]
        await svc.post(f"/follow-ups/{recovery['task_id']}/contact", {"reached": False, "note": "voicemail"})
        etag = (await svc.http.get(f"/follow-ups/{recovery['task_id']}")).headers["ETag"]
        reached = await svc.post(
            f"/follow-ups/{recovery['task_id']}/contact",
            {"reached": True, "note": "apologised"},
            **{"If-Match": etag},
        )
        assert reached.status_code == 200 and reached.json()["attempts"] == 2
        stale = await svc.post(
            f"/follow-ups/{recovery['task_id']}/complete", {"note": "x"}, **{"If-Match": etag}
        )
        assert stale.status_code == 409
        done = await svc.post(f"/follow-ups/{recovery['task_id']}/complete", {"note": "customer satisfied"})
        assert done.status_code == 200 and done.json()["status"] == "completed"
        assert [t["task_id"] for t in await list_tasks(svc, b, "completed")] == [recovery["task_id"]]
        assert [t["task_id"] for t in await list_tasks(svc, b, "open", owner="teller-2")] == [
            callback["task_id"]
        ]


async def test_redelivered_events_create_nothing_twice(database_url: str, kafka: Any) -> None:
    """A redelivered event is dropped by the runner; even a consumer that lost its progress
    (positions wiped) schedules nothing new, because task ids derive from the causing event."""
    bootstrap = kafka.bootstrap_servers
    b = branch()
    complaint_id, visit_id = uuid4(), uuid4()
    case = Stream(f"complaint-{complaint_id}", b, at=T0)
    events = [
        case.next(received(complaint_id)),
        case.next(SolutionImplemented(complaint_id=complaint_id, solution_id=uuid4(), at=T0)),
    ]
    visit = Stream(f"visit-{visit_id}", b, at=T0).next(served(visit_id))
    async with running("followup", database_url, bootstrap) as svc:
        await publish(bootstrap, COMPLAINTS, *events)
        await publish(bootstrap, RECEPTION, visit)
        await wait_tasks(svc, b, 3)
        await publish(bootstrap, COMPLAINTS, *events, *events)
        await publish(bootstrap, RECEPTION, visit, visit)
        await svc.fetch(
            "DELETE FROM projection_positions WHERE stream_id = ANY($1::text[])",
            [case.stream_id, visit.stream_id],
        )
        await publish(bootstrap, COMPLAINTS, *events)
        await publish(bootstrap, RECEPTION, visit)

        async def replayed() -> bool:
            rows = await svc.fetch(
                "SELECT version FROM projection_positions WHERE stream_id = ANY($1::text[])",
                [case.stream_id, visit.stream_id],
            )
            return sorted(r["version"] for r in rows) == [1, 2]

        await wait_until(replayed, 15, message="the wiped consumer positions were rebuilt")
        assert len(await list_tasks(svc, b, "open")) == 3
        rows = await svc.fetch(
            "SELECT count(*) AS n FROM events WHERE type = 'FollowUpScheduled' AND branch_id = $1", b
        )
        assert rows[0]["n"] == 3


async def test_http_errors(database_url: str, kafka: Any) -> None:
    async with running("followup", database_url, kafka.bootstrap_servers) as svc:
        missing = uuid4()
        assert (await svc.http.get(f"/follow-ups/{missing}")).status_code == 404
        assert (await svc.post(f"/follow-ups/{missing}/cancel", {"reason": "x"})).status_code == 404
        assert (await svc.post(f"/follow-ups/{missing}/contact", {"reached": "maybe"})).status_code == 422
        assert (
            await svc.post(f"/follow-ups/{missing}/contact", {"reached": True, "x": 1})
        ).status_code == 422
        assert (await svc.post(f"/follow-ups/{missing}/reassign", {"owner": "no spaces"})).status_code == 422
        bad = await svc.http.get("/branches/b1/follow-ups", params={"status": "late"})
        assert bad.status_code == 422


async def test_a_progress_update_recorded_on_the_case_completes_the_task_and_the_chain_goes_on(
    database_url: str, kafka: Any
) -> None:
    bootstrap = kafka.bootstrap_servers
    b = branch()
    complaint_id = uuid4()
    case = Stream(f"complaint-{complaint_id}", b, at=T0)
    async with running("followup", database_url, bootstrap) as svc:
        await publish(bootstrap, COMPLAINTS, case.next(received(complaint_id)))
        [first] = await wait_tasks(svc, b, 1)
        update = ProgressUpdateGiven(
            complaint_id=complaint_id, note=ref("waiting for HQ"), at=T0 + timedelta(hours=5)
        )
        await publish(bootstrap, COMPLAINTS, case.next(update))
        [done] = await wait_tasks(svc, b, 1, "completed")
        assert done["task_id"] == first["task_id"] and done["close_rule"].startswith("Progress update")
        assert [a["text_id"] for a in done["about"]] == [str(update.note.text_id)]
        [second] = await wait_tasks(svc, b, 1)
        assert second["due_at"] == (T0 + timedelta(hours=29)).isoformat().replace("+00:00", "Z")

        # an update the complaint service recorded because of our own completion is not news
        [ours] = await svc.fetch(
            "SELECT event_id FROM events WHERE type = 'FollowUpCompleted' AND branch_id = $1", b
        )
        echo = case.next(
            ProgressUpdateGiven(complaint_id=complaint_id, note=ref("told"), at=T0 + timedelta(hours=6))
        )
        echo = echo.model_copy(update={"causation_id": ours["event_id"]})
        await publish(bootstrap, COMPLAINTS, echo)

        async def consumed() -> bool:
            rows = await svc.fetch(
                "SELECT version FROM projection_positions WHERE stream_id = $1", case.stream_id
            )
            return bool(rows) and rows[0]["version"] >= 3

        await wait_until(consumed, 15)
        assert [t["task_id"] for t in await list_tasks(svc, b, "open")] == [second["task_id"]]
