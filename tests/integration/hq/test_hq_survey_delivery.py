"""Survey delivery failures reach HQ apart from the rates (issue 22): a survey whose send failed
and was retried, and surveys given up (twice failed, no number, or still failing when the window
ended), show in the branch's KPIs as failed attempts and give-ups, and the response rate counts
only surveys that reached the customer. Branch events go through a real broker, the real
aggregator (hqfeed) and a real HQ process over real PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from uuid import UUID

import pytest

from services.simulator.envelopes import EnvelopeFactory, Made
from shared.contracts import feedback as fb
from tests.integration.hq.steps import now, publish, read, wait_events
from tests.support.harness import Running

pytestmark = pytest.mark.integration

SMS = fb.SurveyChannel.sms


class _Survey:
    """One survey's stream, event by event (the shapes feedback's decider appends)."""

    def __init__(self, f: EnvelopeFactory, branch: str, at: datetime) -> None:
        self.f, self.branch, self.at = f, branch, at
        self.made: list[Made] = f.survey(branch, at, customer_ref="cust_dlv00001", score=5)[:1]
        self.id = UUID(str(self.made[0].envelope.data["survey_id"]))
        self.stream = f"survey-{self.id}"
        f.versions[self.stream] = 1  # the factory's answer was dropped: the next event is v2

    def add(self, event: fb.EventData | object, minutes: float) -> _Survey:
        at = self.at + timedelta(minutes=minutes)
        self.made.append(self.f.make("feedback", self.stream, self.branch, event, at))  # type: ignore[arg-type]
        return self

    def failed(
        self,
        attempt: int,
        minutes: float,
        retry: bool = True,
        reason: fb.DeliveryFailure = fb.DeliveryFailure.gateway_error,
    ) -> _Survey:
        at = self.at + timedelta(minutes=minutes)
        retry_at = at + timedelta(seconds=10 * 2**attempt) if retry else None
        event = fb.SurveySendFailed(
            survey_id=self.id,
            channel=SMS,
            attempt=attempt,
            reason=reason,
            retry_at=retry_at,
            at=at,
        )
        return self.add(event, minutes)

    def sent(self, minutes: float) -> _Survey:
        event = fb.SurveySent(survey_id=self.id, channel=SMS, message_id=f"m-{self.id.hex[:8]}", at=self.at)
        return self.add(event, minutes)

    def given_up(self, attempts: int, minutes: float, reason: fb.DeliveryFailure) -> _Survey:
        at = self.at + timedelta(minutes=minutes)
        return self.add(
            fb.SurveyGivenUp(survey_id=self.id, channel=SMS, attempts=attempts, reason=reason, at=at), minutes
        )

    def answered(self, score: int, minutes: float) -> _Survey:
        at = self.at + timedelta(minutes=minutes)
        return self.add(fb.SurveyAnswered(survey_id=self.id, subject="visit:x", score=score, at=at), minutes)

    def expired(self, minutes: float) -> _Survey:
        at = self.at + timedelta(minutes=minutes)
        return self.add(fb.SurveyExpired(survey_id=self.id, subject="visit:x", at=at), minutes)


async def test_failed_and_given_up_surveys_show_apart_and_keep_the_response_rate(hq: Running) -> None:
    f = EnvelopeFactory()
    t0 = now() - timedelta(hours=2)
    run = uuid.uuid4().hex[:6]
    plain, failing = f"sh-{run}-0", f"sh-{run}-1"  # region "east" by prefix

    def reached(branch: str) -> list[_Survey]:
        """Three surveys that reached the customer: two answered (one delivery reported), one expired."""
        one = _Survey(f, branch, t0).sent(1)
        one.add(fb.SurveyDelivered(survey_id=one.id, channel=SMS, at=t0), 2).answered(5, 30)
        return [
            one,
            _Survey(f, branch, t0).sent(1).answered(4, 40),
            _Survey(f, branch, t0).sent(1).expired(50),
        ]

    surveys = reached(plain) + reached(failing)
    # at the failing branch: one failure then sent and answered; one given up after two attempts;
    # one still failing when its window ended (the window deadline breached, then given up)
    surveys.append(_Survey(f, failing, t0).failed(1, 1).sent(3).answered(5, 20))
    twice = _Survey(f, failing, t0).failed(1, 1).failed(2, 3, retry=False)
    surveys.append(twice.given_up(2, 3, fb.DeliveryFailure.gateway_error))
    # and one with no number to send to (not retried)
    no_contact = fb.DeliveryFailure.no_contact
    surveys.append(_Survey(f, failing, t0).failed(1, 1, False, no_contact).given_up(1, 1, no_contact))
    window = _Survey(f, failing, t0).failed(1, 1)
    end = t0 + timedelta(minutes=60)
    window.made.append(
        f._breach(
            "feedback", window.stream, failing, "feedback.survey_window", "survey", str(window.id), t0, end
        )
    )
    window.given_up(1, 60, fb.DeliveryFailure.gateway_error)
    surveys.append(window)
    items = [m for s in surveys for m in s.made]
    await publish(hq, items)
    await wait_events(hq, [plain, failing], len(items))

    period = {"date_from": str(t0.date() - timedelta(days=1)), "date_to": str(t0.date() + timedelta(days=2))}
    base = (await read(hq, f"/hq/branches/{plain}", **period))["kpis"]
    k = (await read(hq, f"/hq/branches/{failing}", **period))["kpis"]
    assert base["survey_send_failures"] == 0 and base["surveys_given_up"] == 0
    assert base["response_rate"] == pytest.approx(2 / 3)
    # apart: 5 failed attempts (1 + 2 + 1 + 1), 3 surveys given up (1 for want of a number),
    # 1 delivery report
    assert k["survey_send_failures"] == 5 and k["surveys_given_up"] == 3 and k["surveys_delivered"] == 1
    assert k["surveys_given_up_no_contact"] == 1
    # the rate: 3 answered / (3 answered + 1 expired); the three given up are not in it
    assert k["response_rate"] == pytest.approx(3 / 4)
    assert k["response_rate"] >= base["response_rate"]
    # the survey given up at its window's end is no longer "breaching now"
    one = await read(hq, f"/hq/branches/{failing}", **period)
    assert one["now"]["by_sla"].get("feedback.survey_window", 0) == 0

    # rankable like every KPI: the branch with give-ups first (worst first by default)
    ranked = await read(hq, "/hq/branches", sort="surveys_given_up", region="east", **period)
    assert ranked["order"] == "desc" and ranked["branches"][0]["branch_id"] == failing
    assert ranked["branches"][0]["value"] == 3
    region = await read(hq, "/hq/regions/east", **period)
    assert region["kpis"]["surveys_given_up"] >= 3 and region["kpis"]["survey_send_failures"] >= 5
    definitions = await read(hq, "/hq/kpis")
    assert "surveys_given_up" in str(definitions)
