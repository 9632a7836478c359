"""Surveys that never reached the customer are kept apart (real PostgreSQL, real broker): a failed
send is ``send_failed`` with its reason, retried with backoff, then given up; the response rate
counts only surveys that reached the customer; an SMS gateway with its own token answers surveys
and reports delivery, audited as the gateway, and may do nothing else."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from services.feedback.config import FeedbackConfig
from services.feedback.sender import LocalOutboxSender, OutboundMessage, SendRejected, SmsSender
from shared.gateway_identity import gateway_key, issue_gateway_token
from shared.runner import ServiceContext
from tests.integration.feedback.steps import answer_survey, branch, survey_view, wait_survey
from tests.integration.feedback.test_feedback_service import serve
from tests.integration.followup.steps import T0
from tests.support.auth import bearer, secret
from tests.support.harness import Running, running
from tests.support.services import wait_until

pytestmark = pytest.mark.integration


class FlakyGateway:
    """Fails for the customers it is told to (a plain error: retried; ``SendRejected``: not)."""

    def __init__(self, inner: SmsSender, failing: dict[str, Exception]) -> None:
        self.inner = inner
        self.failing = failing

    async def send(self, message: OutboundMessage) -> str:
        error = self.failing.get(message.customer_ref)
        if error is not None:
            raise error
        return await self.inner.send(message)


def gateway(name: str = "sms-main", branches: tuple[str, ...] = ("*",)) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_gateway_token(name, gateway_key(secret()), branches)}"}


async def satisfaction(svc: Running, b: str) -> dict[str, Any]:
    day = T0.date().isoformat()
    response = await svc.http.get(f"/branches/{b}/satisfaction", params={"from": day, "to": day})
    assert response.status_code == 200, response.text
    return response.json()["overall"]  # type: ignore[no-any-return]


async def test_failed_sends_are_retried_then_given_up_and_leave_the_response_rate(
    database_url: str, kafka: Any
) -> None:
    bootstrap = kafka.bootstrap_servers
    b = branch()
    failing: dict[str, Exception] = {
        "cust_ref_0301": ConnectionError("gateway timeout"),
        "cust_ref_0302": SendRejected("number not reachable"),
    }

    def sender(ctx: ServiceContext) -> SmsSender:
        return FlakyGateway(LocalOutboxSender(ctx.pool), failing)

    config = FeedbackConfig(dispatch_period=3600, max_send_attempts=3)  # rounds by hand
    async with running("feedback", database_url, bootstrap, sender=sender, config=config) as svc:
        svc.auth.allow(b)
        subjects = [(await serve(bootstrap, b, customer_ref=f"cust_ref_030{i}"))[1] for i in range(4)]
        surveys = [await wait_survey(svc, s) for s in subjects]
        await svc.parts.dispatcher.tick()
        answered, retrying, rejected, unanswered = [await survey_view(svc, s["survey_id"]) for s in surveys]
        assert retrying["status"] == "send_failed" and retrying["delivery_failure"] == "gateway_error"
        assert retrying["given_up_at"] is None and retrying["retry_at"] is not None
        assert rejected["status"] == "send_failed" and rejected["delivery_failure"] == "gateway_rejected"
        assert rejected["given_up_at"] is not None, "a rejection is not retried"
        assert (await answer_survey(svc, answered["survey_id"], {"score": 5})).status_code == 201
        gone = await answer_survey(svc, rejected["survey_id"], {"score": 1})
        assert gone.status_code == 410 and "given up" in gone.json()["detail"]

        figures = await satisfaction(svc, b)
        assert figures["requested"] == 4 and figures["reached"] == 2 and figures["answered"] == 1
        assert figures["response_rate"] == 0.5, "only surveys that reached the customer count"
        assert figures["delivery"]["send_failed"] == 1 and figures["delivery"]["given_up"] == 1
        assert figures["delivery"]["by_reason"] == {"gateway_error": 1, "gateway_rejected": 1}

        # retried with backoff: not before retry_at, then again; the third failure gives up
        await svc.parts.dispatcher.tick()
        assert (await survey_view(svc, retrying["survey_id"]))["attempts"] == 1
        for attempt in (2, 3):
            svc.clock.advance(timedelta(minutes=2))
            await svc.parts.dispatcher.tick()
            assert (await survey_view(svc, retrying["survey_id"]))["attempts"] == attempt
        given_up = await survey_view(svc, retrying["survey_id"])
        assert given_up["status"] == "send_failed" and given_up["given_up_at"] is not None
        rows = await svc.fetch(
            "SELECT type, data FROM events WHERE stream_id = $1 ORDER BY stream_version",
            f"survey-{retrying['survey_id']}",
        )
        types = [r["type"] for r in rows]
        assert types == ["SurveyRequested", *["SurveySendFailed"] * 3, "SurveyGivenUp"]

        # the window ends: the sent one expires, the given-up ones stay apart (not expired)
        svc.clock.advance(timedelta(hours=73))
        await svc.tick()
        assert (await survey_view(svc, unanswered["survey_id"]))["status"] == "expired"
        figures = await satisfaction(svc, b)
        assert figures["expired"] == 1 and figures["delivery"]["given_up"] == 2
        assert figures["response_rate"] == 0.5
        metrics = (await svc.http.get("/metrics")).text
        assert 'branchcare_feedback_surveys_given_up_total{reason="gateway_rejected"}' in metrics


async def test_the_gateway_answers_and_reports_delivery_and_nothing_else(
    database_url: str, kafka: Any
) -> None:
    bootstrap = kafka.bootstrap_servers
    b = branch()
    config = FeedbackConfig(dispatch_period=3600)
    async with running("feedback", database_url, bootstrap, config=config) as svc:
        svc.auth.allow(b)
        subjects = [(await serve(bootstrap, b, customer_ref=f"cust_ref_040{i}"))[1] for i in range(2)]
        first, second = [await wait_survey(svc, s) for s in subjects]
        await svc.parts.dispatcher.tick()

        # delivery reports: delivered, then (another message) undelivered → sent again later
        url = f"/surveys/{first['survey_id']}/delivery"
        delivered = await svc.http.post(url, json={"status": "delivered"}, headers=gateway())
        assert delivered.status_code == 200, delivered.text
        assert delivered.json()["delivered_at"] is not None
        lost = await svc.http.post(
            f"/surveys/{second['survey_id']}/delivery", json={"status": "undelivered"}, headers=gateway()
        )
        assert lost.status_code == 200 and lost.json()["status"] == "send_failed"
        assert lost.json()["delivery_failure"] == "undelivered" and lost.json()["retry_at"] is not None
        svc.clock.advance(timedelta(minutes=1))
        await svc.parts.dispatcher.tick()
        assert (await survey_view(svc, second["survey_id"]))["status"] == "sent"

        # the gateway answers, audited as the gateway
        answer = await svc.http.post(
            f"/surveys/{first['survey_id']}/responses", json={"score": 4}, headers=gateway()
        )
        assert answer.status_code == 201, answer.text
        [event] = await svc.fetch(
            "SELECT actor FROM events WHERE type = 'SurveyAnswered' AND stream_id = $1",
            f"survey-{first['survey_id']}",
        )
        assert event["actor"] == "gw:sms-main"
        audit = await svc.fetch(
            "SELECT staff_id, authenticated, action, status FROM audit_log WHERE route = $1",
            "/surveys/{survey_id}/responses",
        )
        assert ("gw:sms-main", True, "feedback.response.submit", 201) in [tuple(r.values()) for r in audit]

        # nothing else: no reads, no other commands; not for another branch's surveys
        for method, path in (
            ("GET", f"/surveys/{first['survey_id']}"),
            ("GET", f"/branches/{b}/satisfaction"),
            ("PUT", "/customers/cust_ref_0400/survey-channel"),
        ):
            response = await svc.http.request(method, path, json={"channel": "sms"}, headers=gateway())
            assert response.status_code == 401, (path, response.text)
        elsewhere = gateway("sms-north", ("b-north",))
        refused = await svc.http.post(
            f"/surveys/{second['survey_id']}/responses", json={"score": 2}, headers=elsewhere
        )
        assert refused.status_code == 403
        # staff: a teller of another branch is still refused; nobody on the floor reports delivery
        other = bearer("teller-x", ["b-elsewhere"], ["counter_staff"])
        assert (
            await svc.http.post(f"/surveys/{second['survey_id']}/responses", json={"score": 2}, headers=other)
        ).status_code == 403
        own = bearer("teller-1", [b], ["counter_staff", "lobby_manager", "branch_head"])
        assert (
            await svc.http.post(
                f"/surveys/{second['survey_id']}/delivery", json={"status": "delivered"}, headers=own
            )
        ).status_code == 403
        # a forged gateway token (staff secret as key, wrong audience) is 401
        forged = issue_gateway_token("sms-main", secret().encode()[:64], ("*",))
        bad = await svc.http.post(
            f"/surveys/{second['survey_id']}/responses",
            json={"score": 3},
            headers={"Authorization": f"Bearer {forged}"},
        )
        assert bad.status_code == 401
        for body in (
            {"status": "lost"},
            {"status": "delivered", "extra": 1},
            {"status": "delivered", "message_id": "a b"},
        ):
            response = await svc.http.post(url, json=body, headers=gateway())
            assert response.status_code == 422, body
        assert (await survey_view(svc, second["survey_id"]))["status"] == "sent"

        async def both_published() -> bool:
            rows = await svc.fetch(
                "SELECT count(*) AS n FROM events WHERE type = 'SurveyDelivered' AND branch_id = $1", b
            )
            return rows[0]["n"] == 1

        await wait_until(both_published, 10)
