"""The feedback service for real: in-process uvicorn on a FixedClock, real PostgreSQL, real broker.

Visits and complaints are published as envelopes to reception.events.v1 / complaint.events.v1;
the answers come in over HTTP as the gateway would post them; what happens is seen through the
API, the tables and feedback.events.v1 (and, for recovery, the follow-up service running too).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

import services.feedback as feedback_migrations
from services.feedback.config import FeedbackConfig
from services.feedback.domain import survey_id_for
from services.feedback.sender import LocalOutboxSender, OutboundMessage
from services.feedback.service import refresh_gauges
from shared.contracts.complaint import Channel, ComplaintClosed, ComplaintReceived, ComplaintReopened
from shared.contracts.feedback import SurveyChannel
from shared.contracts.reception import ServiceType, VisitServed
from shared.runner import ServiceContext
from tests.integration.feedback.steps import answer_survey, branch, survey_view, wait_survey
from tests.integration.followup.steps import T0, list_tasks, wait_tasks
from tests.support.events import Stream
from tests.support.harness import running
from tests.support.kafka import publish, published
from tests.support.pii import phone
from tests.support.services import wait_until
from tests.support.texts import ref

pytestmark = pytest.mark.integration

COMPLAINTS = "complaint.events.v1"
RECEPTION = "reception.events.v1"
FEEDBACK = "feedback.events.v1"


def served(visit_id: UUID, **kw: Any) -> VisitServed:
    fields: dict[str, Any] = {
        "visit_id": visit_id,
        "service_type": ServiceType.deposit_time,
        "counter_id": "2",
        "staff_id": "teller-1",
        "outcome": ref("time deposit opened", "reception"),
        "customer_ref": "cust_ref_0101",
        "waited_seconds": 240,
        "at": T0,
    }
    return VisitServed(**(fields | kw))


async def serve(bootstrap: str, b: str, **kw: Any) -> tuple[str, str]:
    """Publish a served visit; its stream id and survey subject."""
    visit_id = uuid4()
    stream = Stream(f"visit-{visit_id}", b, at=T0)
    await publish(bootstrap, RECEPTION, stream.next(served(visit_id, **kw)))
    return stream.stream_id, f"visit:{visit_id}"


async def test_a_closed_complaint_leads_to_exactly_one_survey_sent_through_the_outbox(
    database_url: str, kafka: Any
) -> None:
    bootstrap = kafka.bootstrap_servers
    b = branch()
    complaint_id = uuid4()
    case = Stream(f"complaint-{complaint_id}", b, at=T0)
    first = [
        case.next(
            ComplaintReceived(
                complaint_id=complaint_id,
                channel=Channel.phone_hotline,
                customer_ref="cust_ref_0200",
                description=ref("fee charged twice"),
                received_at=T0,
            )
        ),
        case.next(
            ComplaintClosed(complaint_id=complaint_id, at=T0 + timedelta(hours=5), result=ref("refunded"))
        ),
    ]
    subject = f"complaint:{complaint_id}"
    async with running("feedback", database_url, bootstrap) as svc:
        svc.auth.allow(b)  # the surveys come from events
        await publish(bootstrap, COMPLAINTS, *first)
        survey = await wait_survey(svc, subject, "sent")
        assert survey["survey_id"] == str(survey_id_for(subject)) and survey["branch_id"] == b
        assert survey["channel"] == "sms" and survey["customer_ref"] == "cust_ref_0200"
        assert survey["service_type"] == "complaint" and survey["staff_id"] == "lm-007"
        assert survey["expires_at"] == (T0 + timedelta(hours=72)).isoformat().replace("+00:00", "Z")
        assert [d["sla"] for d in survey["deadlines"]] == ["feedback.survey_window"]
        [outbox] = await svc.fetch("SELECT * FROM sms_outbox WHERE survey_id = $1", UUID(survey["survey_id"]))
        assert outbox["customer_ref"] == "cust_ref_0200" and outbox["channel"] == "sms"
        assert "投诉" in outbox["body"] and "72" in outbox["body"]

        # redelivered, reopened and closed again: still one survey, one message
        await publish(bootstrap, COMPLAINTS, *first)
        again = [
            case.next(
                ComplaintReopened(
                    complaint_id=complaint_id, at=T0 + timedelta(days=2), reason=ref("x"), cycle=2
                )
            ),
            case.next(
                ComplaintClosed(complaint_id=complaint_id, at=T0 + timedelta(days=3), result=ref("done"))
            ),
        ]
        await publish(bootstrap, COMPLAINTS, *again)
        await svc.consumed(case.stream_id, 4)
        await svc.parts.dispatcher.tick()
        requested = await svc.fetch(
            "SELECT count(*) AS n FROM events WHERE type = 'SurveyRequested' AND branch_id = $1", b
        )
        assert requested[0]["n"] == 1
        assert len(await svc.fetch("SELECT 1 FROM sms_outbox WHERE branch_id = $1", b)) == 1
        events = await published(bootstrap, FEEDBACK, lambda e: e.branch_id == b, count=2)
        assert [e.type for e in events] == ["SurveyRequested", "SurveySent"]


async def test_a_negative_answer_leads_to_one_recovery_task_and_an_event_describing_the_complaint(
    database_url: str, kafka: Any
) -> None:
    bootstrap = kafka.bootstrap_servers
    b = branch()
    async with (
        running("feedback", database_url, bootstrap) as feedback,
        running("followup", database_url, bootstrap) as followup,
    ):
        feedback.auth.allow(b)  # surveys and tasks come from events
        followup.auth.allow(b)
        _, subject = await serve(bootstrap, b)
        survey = await wait_survey(feedback, subject)
        comment = "柜员态度差，我要投诉！请打我电话 138 1234 5678"
        answered = await answer_survey(
            feedback, survey["survey_id"], {"score": 2, "comment": comment, "reasons": ["service_attitude"]}
        )
        assert answered.status_code == 201, answered.text
        body = answered.json()
        assert body["status"] == "answered" and body["negative"] and body["describes_complaint"]
        assert body["comment"]["text"] == "柜员态度差，我要投诉！请打我电话 *** **** 5678"

        second = await answer_survey(feedback, survey["survey_id"], {"score": 5})
        assert second.status_code == 409

        [negative] = await published(
            bootstrap, FEEDBACK, lambda e: e.type == "NegativeFeedbackReceived" and e.branch_id == b
        )
        assert negative.data["describes_complaint"] is True and negative.data["score"] == 2
        assert negative.data["customer_ref"] == "cust_ref_0101" and negative.data["subject"] == subject
        assert "5678" not in negative.model_dump_json() and "投诉" in negative.data["matched"]

        [task] = await wait_tasks(followup, b, 1)
        assert task["kind"] == "service_recovery" and task["subject"] == f"survey:{survey['survey_id']}"
        assert task["due_at"] == (T0 + timedelta(hours=24)).isoformat().replace("+00:00", "Z")

        # the same NegativeFeedbackReceived delivered again: still one task
        await publish(bootstrap, FEEDBACK, negative, negative)
        await wait_until(lambda: _consumed(followup.ctx, negative.stream_id, negative.stream_version), 15)
        assert len(await list_tasks(followup, b, "open")) == 1


async def _consumed(ctx: ServiceContext, stream_id: str, version: int) -> bool:
    async with ctx.pool.acquire() as conn:
        value = await conn.fetchval(
            "SELECT version FROM projection_positions WHERE stream_id = $1", stream_id
        )
    return value is not None and value >= version


async def test_the_answer_window_closes_at_72h_and_the_survey_expires(database_url: str, kafka: Any) -> None:
    bootstrap = kafka.bootstrap_servers
    b = branch()
    async with running("feedback", database_url, bootstrap) as svc:
        svc.auth.allow(b)
        _, early_subject = await serve(bootstrap, b, staff_id="teller-1")
        _, late_subject = await serve(bootstrap, b, staff_id="teller-2")
        early = await wait_survey(svc, early_subject, "sent")
        late = await wait_survey(svc, late_subject, "sent")

        svc.clock.advance(timedelta(hours=71, minutes=59))
        ok = await answer_survey(svc, early["survey_id"], {"score": 5, "comment": "快，专业"})
        assert ok.status_code == 201 and not ok.json()["negative"]

        svc.clock.advance(timedelta(minutes=1))  # exactly 72 h: closed, even before expiry fires
        closed = await answer_survey(svc, late["survey_id"], {"score": 4})
        assert closed.status_code == 410 and "closed" in closed.json()["detail"]
        assert (await answer_survey(svc, early["survey_id"], {"score": 1})).status_code == 409

        await svc.tick()
        expired = await survey_view(svc, late["survey_id"])
        assert expired["status"] == "expired"
        assert expired["expired_at"] == (T0 + timedelta(hours=72)).isoformat().replace("+00:00", "Z")
        assert (await survey_view(svc, early["survey_id"]))["status"] == "answered"
        [event] = await published(
            bootstrap, FEEDBACK, lambda e: e.type == "SurveyExpired" and e.branch_id == b
        )
        assert event.data["subject"] == late_subject
        assert (await answer_survey(svc, late["survey_id"], {"score": 4})).status_code == 410

        metrics = (await svc.http.get("/metrics")).text
        for name in ("surveys_sent_total", "surveys_answered_total", "surveys_expired_total"):
            assert f"branchcare_feedback_{name}" in metrics
        assert b not in metrics


async def test_channel_by_preference_and_configuration_one_survey_per_visit(
    database_url: str, kafka: Any
) -> None:
    bootstrap = kafka.bootstrap_servers
    b, phone_branch = branch(), branch()
    config = FeedbackConfig(dispatch_period=0.05, branch_channels={phone_branch: SurveyChannel.phone})
    async with running("feedback", database_url, bootstrap, config=config) as svc:
        svc.auth.allow(b, phone_branch)
        put = await svc.http.put("/customers/cust_ref_0300/survey-channel", json={"channel": "phone"})
        assert put.status_code == 200
        assert (await svc.http.get("/customers/cust_ref_0300/survey-channel")).json()["channel"] == "phone"
        assert (await svc.http.put("/customers/x/survey-channel", json={"channel": "sms"})).status_code == 422
        raw = phone()  # a number where the pseudonym belongs never becomes a preference row's key
        refused = await svc.http.put(f"/customers/{raw}/survey-channel", json={"channel": "sms"})
        assert refused.status_code == 422 and "shaped like a phone" in refused.text

        _, by_preference = await serve(bootstrap, b, customer_ref="cust_ref_0300")
        _, by_default = await serve(bootstrap, b, customer_ref="cust_ref_0301")
        _, by_branch = await serve(bootstrap, phone_branch, customer_ref="cust_ref_0302")
        anonymous_stream, _ = await serve(bootstrap, b, customer_ref=None)
        complaint_stream, _ = await serve(bootstrap, b, service_type=ServiceType.complaint)
        assert (await wait_survey(svc, by_preference, "sent"))["channel"] == "phone"
        assert (await wait_survey(svc, by_default, "sent"))["channel"] == "sms"
        assert (await wait_survey(svc, by_branch, "sent"))["channel"] == "phone"
        await svc.consumed(anonymous_stream, 1)
        await svc.consumed(complaint_stream, 1)
        assert len(await svc.fetch("SELECT 1 FROM survey_facts WHERE branch_id = $1", b)) == 2

        # a consumer that lost its progress replays the visit: the survey id is the visit's, no second one
        visit_id = uuid4()
        stream = Stream(f"visit-{visit_id}", b, at=T0)
        env = stream.next(served(visit_id))
        await publish(bootstrap, RECEPTION, env)
        await wait_survey(svc, f"visit:{visit_id}", "sent")
        await svc.fetch("DELETE FROM projection_positions WHERE stream_id = $1", stream.stream_id)
        await publish(bootstrap, RECEPTION, env, env)
        await svc.consumed(stream.stream_id, 1)
        assert len(await svc.fetch("SELECT 1 FROM survey_facts WHERE branch_id = $1", b)) == 3
        assert len(await svc.fetch("SELECT 1 FROM sms_outbox WHERE branch_id = $1", b)) == 3


async def test_satisfaction_by_branch_service_staff_and_day_with_the_gap_to_target(
    database_url: str, kafka: Any
) -> None:
    bootstrap = kafka.bootstrap_servers
    b = branch()
    visits = [
        ("teller-1", ServiceType.deposit_time, 5),
        ("teller-1", ServiceType.deposit_time, 4),
        ("teller-2", ServiceType.transfer, 2),
        ("teller-2", ServiceType.transfer, 5),
        ("teller-2", ServiceType.transfer, None),  # not answered (yet)
    ]
    async with running("feedback", database_url, bootstrap) as svc:
        svc.auth.allow(b)
        subjects = [(await serve(bootstrap, b, staff_id=s, service_type=t))[1] for s, t, _ in visits]
        for subject, (_, _, score) in zip(subjects, visits, strict=True):
            survey = await wait_survey(svc, subject)
            if score is not None:
                assert (await answer_survey(svc, survey["survey_id"], {"score": score})).status_code == 201
        await svc.parts.dispatcher.tick()  # every survey handed to the gateway: they reached the customers
        # the background dispatcher may hold the unanswered one (SKIP LOCKED) until its own commit
        await wait_survey(svc, subjects[-1], "sent")
        day = T0.date().isoformat()  # 10:00 in Shanghai: the same local day
        response = await svc.http.get(f"/branches/{b}/satisfaction", params={"from": day, "to": day})
        assert response.status_code == 200, response.text
        report = response.json()
        overall = report["overall"]
        assert report["target"] == 0.95
        assert overall["requested"] == 5 and overall["answered"] == 4 and overall["pending"] == 1
        assert overall["satisfaction_rate"] == 0.75 and overall["csat_average"] == 4.0
        assert overall["response_rate"] == 0.8 and overall["negative"] == 1
        assert overall["gap_to_target"] == 0.2 and overall["meets_target"] is False
        staff = {row["key"]: row for row in report["by_staff_id"]}
        assert staff["teller-1"]["satisfaction_rate"] == 1.0 and staff["teller-1"]["meets_target"] is True
        assert staff["teller-2"]["satisfaction_rate"] == 0.5 and staff["teller-2"]["response_rate"] == 0.6667
        services = {row["key"]: row for row in report["by_service_type"]}
        assert services["transfer"]["csat_average"] == 3.5
        assert [row["key"] for row in report["by_day"]] == [day]

        empty = (
            await svc.http.get(
                f"/branches/{b}/satisfaction", params={"from": "2025-01-01", "to": "2025-01-31"}
            )
        ).json()
        assert empty["overall"]["requested"] == 0 and empty["overall"]["satisfaction_rate"] is None
        bad = await svc.http.get(
            f"/branches/{b}/satisfaction", params={"from": "2026-03-05", "to": "2026-03-01"}
        )
        assert bad.status_code == 422

        await refresh_gauges(svc.ctx)
        metrics = (await svc.http.get("/metrics")).text
        assert 'branchcare_feedback_satisfaction_ratio{service_type="all"}' in metrics
        assert 'branchcare_feedback_csat_average{service_type="transfer"}' in metrics


class FlakySender:
    """A gateway that refuses the first ``failures`` sends, then writes to the local outbox."""

    def __init__(self, ctx: ServiceContext, failures: int) -> None:
        self.local = LocalOutboxSender(ctx.pool)
        self.failures = failures
        self.calls = 0

    async def send(self, message: OutboundMessage) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError("gateway unavailable")
        return await self.local.send(message)


async def test_a_failing_gateway_is_retried_with_backoff(database_url: str, kafka: Any) -> None:
    bootstrap = kafka.bootstrap_servers
    b = branch()
    senders: list[FlakySender] = []

    def factory(ctx: ServiceContext) -> FlakySender:
        senders.append(FlakySender(ctx, failures=2))
        return senders[-1]

    async with running("feedback", database_url, bootstrap, sender=factory) as svc:
        svc.auth.allow(b)
        _, subject = await serve(bootstrap, b)
        survey = await wait_survey(svc, subject)

        async def failed_once() -> Any:
            rows = await svc.fetch(
                "SELECT * FROM survey_dispatch WHERE survey_id = $1", UUID(survey["survey_id"])
            )
            return rows[0] if rows and rows[0]["attempts"] >= 1 else None

        row = await wait_until(failed_once, 10)
        assert row["attempts"] == 1 and "gateway unavailable" in row["last_error"] and row["sent_at"] is None
        for _ in range(2):
            svc.clock.advance(timedelta(minutes=2))
            await svc.parts.dispatcher.tick()
        sent = await wait_survey(svc, subject, "sent")
        assert senders[0].calls == 3 and sent["sent_at"] is not None


async def test_http_errors(database_url: str, kafka: Any) -> None:
    async with running("feedback", database_url, kafka.bootstrap_servers) as svc:
        missing = uuid4()
        assert (await svc.http.get(f"/surveys/{missing}")).status_code == 404
        assert (await answer_survey(svc, missing, {"score": 5})).status_code == 404
        for body in (
            {"score": 6},
            {"score": 0},
            {"score": 5, "comment": "x" * 501},
            {"score": 5, "reasons": ["bad_weather"]},
            {"score": 5, "staff": "x"},
            {},
        ):
            assert (await answer_survey(svc, missing, body)).status_code == 422, body


async def test_the_branch_lists_its_recent_surveys_with_masked_comments(
    database_url: str, kafka: Any
) -> None:
    bootstrap = kafka.bootstrap_servers
    b, other = branch(), branch()
    async with running("feedback", database_url, bootstrap) as svc:
        svc.auth.allow(b, other)
        first = await wait_survey(svc, (await serve(bootstrap, b, staff_id="teller-1"))[1], "sent")
        second = await wait_survey(
            svc,
            (await serve(bootstrap, b, staff_id="teller-2", service_type=ServiceType.transfer))[1],
            "sent",
        )
        silent = await wait_survey(svc, (await serve(bootstrap, b, staff_id="teller-3"))[1], "sent")
        unanswered = await wait_survey(svc, (await serve(bootstrap, b))[1], "sent")
        await wait_survey(svc, (await serve(bootstrap, other))[1], "sent")

        svc.clock.advance(timedelta(hours=1))
        assert (
            await answer_survey(svc, first["survey_id"], {"score": 5, "comment": "很专业 thanks"})
        ).status_code == 201
        svc.clock.advance(timedelta(hours=1))
        comment = {
            "score": 1,
            "comment": "rude, I want a refund, call me on 13812345678",
            "reasons": ["service_attitude"],
        }
        assert (await answer_survey(svc, second["survey_id"], comment)).status_code == 201
        svc.clock.advance(timedelta(hours=1))
        assert (await answer_survey(svc, silent["survey_id"], {"score": 4})).status_code == 201

        answered = await svc.http.get(f"/branches/{b}/surveys", params={"answered": "true"})
        assert answered.status_code == 200, answered.text
        body = answered.json()
        assert body["branch_id"] == b and body["count"] == 3
        rows = body["surveys"]
        assert [r["survey_id"] for r in rows] == [
            silent["survey_id"],
            second["survey_id"],
            first["survey_id"],
        ]
        newest_comment = rows[1]
        assert newest_comment["score"] == 1 and newest_comment["negative"] is True
        assert newest_comment["comment"]["text"] == "rude, I want a refund, call me on *******5678"
        assert newest_comment["describes_complaint"] is True
        assert (
            newest_comment["reasons"] == ["service_attitude"] and newest_comment["service_type"] == "transfer"
        )
        assert newest_comment["staff_id"] == "teller-2" and newest_comment["channel"] == "sms"
        assert (
            newest_comment["at"]
            == newest_comment["answered_at"]
            == (T0 + timedelta(hours=2)).isoformat().replace("+00:00", "Z")
        )
        assert "customer_ref" not in newest_comment and "13812345678" not in answered.text

        with_comment = (
            await svc.http.get(
                f"/branches/{b}/surveys", params={"answered": "true", "with_comment": "true", "limit": 1}
            )
        ).json()
        assert [r["survey_id"] for r in with_comment["surveys"]] == [second["survey_id"]]
        pending = (await svc.http.get(f"/branches/{b}/surveys", params={"answered": "false"})).json()
        assert [r["survey_id"] for r in pending["surveys"]] == [unanswered["survey_id"]]
        assert pending["surveys"][0]["score"] is None and pending["surveys"][0]["status"] == "sent"
        by_status = (
            await svc.http.get(f"/branches/{b}/surveys", params={"status": "answered", "limit": 2})
        ).json()
        assert by_status["count"] == 2
        assert len((await svc.http.get(f"/branches/{b}/surveys")).json()["surveys"]) == 4
        assert (await svc.http.get(f"/branches/{other}/surveys")).json()["count"] == 1
        for params in ({"limit": 0}, {"limit": 201}, {"status": "lost"}, {"answered": "maybe"}):
            assert (await svc.http.get(f"/branches/{b}/surveys", params=params)).status_code == 422, params

        # comments kept in clear before v2 are withheld by the migration (never copied anywhere)
        await svc.fetch("ALTER TABLE survey_facts ADD COLUMN comment text NOT NULL DEFAULT ''")
        await svc.fetch(
            "UPDATE survey_facts SET comment = 'call 13812345678', comment_ref = NULL WHERE score = 1"
        )
        migration = Path(feedback_migrations.__file__).parent / "migrations" / "0003_private_texts.sql"
        async with svc.ctx.pool.acquire() as conn:
            await conn.execute(migration.read_text())
        legacy = await svc.fetch("SELECT comment_ref FROM survey_facts WHERE score = 1")
        assert legacy and all(json.loads(r["comment_ref"])["withheld"] for r in legacy)
        columns = await svc.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'survey_facts'"
        )
        assert "comment" not in {r["column_name"] for r in columns}
