"""Survey delivery (issue 22) in the fold: failed attempts, give-ups and delivery reports are
counted apart, on the branch-local day they happened, and never as expirations or answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from services.simulator.envelopes import EnvelopeFactory, Made
from shared.contracts import feedback as fb
from shared.contracts.hqfeed import BranchKpisDelta, DayCounts
from tests.unit.hqfeed.test_fold import Model

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def _survey_id(made: list[Made]) -> UUID:
    return UUID(str(made[0].envelope.data["survey_id"]))


def _requested(f: EnvelopeFactory, branch: str) -> tuple[list[Made], UUID, str]:
    """A survey requested (the factory's answered one, its answer dropped)."""
    made = f.survey(branch, T0, customer_ref="cust_000001", score=5)[:1]
    sid = _survey_id(made)
    f.versions[f"survey-{sid}"] = 1  # the answer was dropped: the next event is v2
    return made, sid, f"survey-{sid}"


def _failed(
    f: EnvelopeFactory,
    branch: str,
    sid: UUID,
    stream: str,
    attempt: int,
    retry: bool,
    reason: fb.DeliveryFailure = fb.DeliveryFailure.gateway_error,
) -> Made:
    at = T0 + timedelta(minutes=attempt)
    event = fb.SurveySendFailed(
        survey_id=sid,
        channel=fb.SurveyChannel.sms,
        attempt=attempt,
        reason=reason,
        retry_at=at + timedelta(minutes=1) if retry else None,
        at=at,
    )
    return f.make("feedback", stream, branch, event, at)


def test_failed_attempts_give_ups_and_deliveries_are_counted_apart() -> None:
    f, m = EnvelopeFactory(), Model()
    # survey 1: two failed attempts, then given up
    made, sid, stream = _requested(f, "b1")
    made += [_failed(f, "b1", sid, stream, 1, True), _failed(f, "b1", sid, stream, 2, False)]
    gave_up = fb.SurveyGivenUp(
        survey_id=sid,
        channel=fb.SurveyChannel.sms,
        attempts=2,
        reason=fb.DeliveryFailure.gateway_error,
        at=T0,
    )
    made.append(f.make("feedback", stream, "b1", gave_up, T0 + timedelta(minutes=3)))
    # survey 2: one failure, then sent, delivered and answered
    made2, sid2, stream2 = _requested(f, "b1")
    made2.append(_failed(f, "b1", sid2, stream2, 1, True))
    for event in (
        fb.SurveySent(survey_id=sid2, channel=fb.SurveyChannel.sms, message_id="m-1", at=T0),
        fb.SurveyDelivered(survey_id=sid2, channel=fb.SurveyChannel.sms, at=T0),
        fb.SurveyAnswered(survey_id=sid2, subject="visit:x", score=5, at=T0),
    ):
        made2.append(f.make("feedback", stream2, "b1", event, T0 + timedelta(minutes=5)))
    # survey 3: no number to send to: failed once, given up at once (not retried)
    made3, sid3, stream3 = _requested(f, "b1")
    no_contact = fb.DeliveryFailure.no_contact
    made3.append(_failed(f, "b1", sid3, stream3, 1, False, no_contact))
    gone = fb.SurveyGivenUp(
        survey_id=sid3, channel=fb.SurveyChannel.sms, attempts=1, reason=no_contact, at=T0
    )
    made3.append(f.make("feedback", stream3, "b1", gone, T0 + timedelta(minutes=1)))
    m.apply(made)
    m.apply(made2 + made3)
    assert m.total("surveys_requested") == 3
    assert m.total("survey_send_failures") == 4  # attempts, not surveys
    assert m.total("surveys_given_up") == 2 and m.total("surveys_given_up_no_contact") == 1
    assert m.total("surveys_delivered") == 1
    # a give-up is not an expiry: the response-rate base (answered + expired) has the answer only
    assert m.total("surveys_expired") == 0 and m.total("surveys_answered") == 1


def test_a_give_up_at_the_window_end_closes_the_window_breach() -> None:
    """The window deadline breaches, the survey is still failing, so it is given up, not expired:
    HQ must not list it as "breaching now" forever."""
    f, m = EnvelopeFactory(), Model()
    made, sid, stream = _requested(f, "b1")
    end = T0 + timedelta(hours=72)
    made.append(f._breach("feedback", stream, "b1", "feedback.survey_window", "survey", str(sid), T0, end))
    m.apply(made)
    assert len(m.open) == 1
    gave_up = fb.SurveyGivenUp(
        survey_id=sid, channel=fb.SurveyChannel.sms, attempts=3, reason=fb.DeliveryFailure.undelivered, at=end
    )
    m.apply([f.make("feedback", stream, "b1", gave_up, end)])
    assert m.open == set() and m.total("surveys_given_up") == 1


def test_a_record_without_the_delivery_counters_still_decodes() -> None:
    """Records published before the counters existed: they are simply absent (0)."""
    old = {
        "branch_id": "b1",
        "first_event_at": T0.isoformat(),
        "last_event_at": T0.isoformat(),
        "days": [{"day": "2026-03-02", "counters": {"surveys_requested": 2, "surveys_expired": 1}}],
    }
    delta = BranchKpisDelta.model_validate(old)
    assert delta.days[0].counters.get("surveys_given_up", 0) == 0
    new = DayCounts(day=T0.date(), counters={"surveys_given_up": 1, "survey_send_failures": 2})
    assert DayCounts.model_validate(new.model_dump(mode="json")) == new
