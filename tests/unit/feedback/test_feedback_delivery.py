"""The survey decider keeps delivery apart from answers, given / when / then
(``tests.support.decider``): a failed attempt is ``send_failed`` with its reason, retried until
sent or given up; a survey given up never expires and takes no answer; a late report changes
nothing. Pure, no infrastructure."""

from __future__ import annotations

from services.feedback import domain as s
from shared.contracts.feedback import (
    DeliveryFailure,
    SurveyChannel,
    SurveyDelivered,
    SurveyGivenUp,
    SurveySendFailed,
)
from tests.unit.feedback.test_feedback_surveys import SURVEY, at, request, survey

ERROR = DeliveryFailure.gateway_error


def test_a_failed_attempt_is_send_failed_and_a_retry_that_succeeds_makes_it_sent() -> None:
    survey(request()).when(s.RecordSendFailure(ERROR, at(0), retry_at=at(0.1))).then(
        SurveySendFailed(
            survey_id=SURVEY, channel=SurveyChannel.sms, attempt=1, reason=ERROR, retry_at=at(0.1), at=at(0)
        )
    )
    state = survey(request(), s.RecordSendFailure(ERROR, at(0), at(0.1))).state
    assert state.status is s.SurveyStatus.send_failed and state.pending and not state.reached
    state = survey(request(), s.RecordSendFailure(ERROR, at(0), at(0.1)), s.RecordSent("m-1", at(0.1))).state
    assert state.status is s.SurveyStatus.sent and state.attempts == 2 and state.reached
    assert state.failure is ERROR  # kept for the record


def test_no_retry_gives_the_survey_up_for_good() -> None:
    gone = (
        survey(request())
        .when(s.RecordSendFailure(DeliveryFailure.no_contact, at(0), None))
        .then(
            SurveySendFailed,
            SurveyGivenUp(
                survey_id=SURVEY,
                channel=SurveyChannel.sms,
                attempts=1,
                reason=DeliveryFailure.no_contact,
                at=at(0),
            ),
        )
    )
    assert not gone.state.pending and not gone.state.reached and gone.state.given_up_at == at(0)
    gone.when(s.ExpireSurvey(at(72))).then()  # given up: it does not expire as unanswered
    gone.when(s.RecordSent("m-1", at(1))).then()
    gone.when(s.RecordSendFailure(ERROR, at(1), at(2))).then()
    gone.when(s.AnswerSurvey(score=5, at=at(1))).then_raises("given up", s.WindowClosed)


def test_the_window_ending_while_retrying_gives_up_with_the_last_reason() -> None:
    retrying = survey(request(), s.RecordSendFailure(DeliveryFailure.contact_unavailable, at(70), at(73)))
    retrying.when(s.ExpireSurvey(at(72))).then(
        SurveyGivenUp(
            survey_id=SURVEY, channel=SurveyChannel.sms, attempts=1,
            reason=DeliveryFailure.contact_unavailable, at=at(72),
        )
    )  # fmt: skip


def test_a_delivery_report_after_the_send_reopens_delivery_or_confirms_it() -> None:
    sent = survey(request(), s.RecordSent("m-1", at(0)))
    sent.when(s.RecordDelivered(at(0.01))).then(
        SurveyDelivered(survey_id=SURVEY, channel=SurveyChannel.sms, at=at(0.01))
    )
    lost = survey(
        request(),
        s.RecordSent("m-1", at(0)),
        s.RecordSendFailure(DeliveryFailure.undelivered, at(1), at(1.1)),
    ).state
    assert lost.status is s.SurveyStatus.send_failed and lost.sent_at is None and not lost.reached
    assert lost.attempts == 2
    # the customer answered anyway (on the phone): that counts, a late report changes nothing
    answered = survey(request(), s.RecordSent("m-1", at(0)), s.AnswerSurvey(score=4, at=at(1)))
    answered.when(s.RecordSendFailure(DeliveryFailure.undelivered, at(2), at(3))).then()
    answered.when(s.RecordDelivered(at(2))).then()
    assert survey(
        request(), s.RecordSendFailure(ERROR, at(0), at(1)), s.AnswerSurvey(score=5, at=at(0.5))
    ).state.reached
