"""The survey decider, given / when / then (``tests.support.decider``): one survey per subject,
the 72 h window, one answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from services.feedback import domain as s
from services.feedback.comments import assess
from services.feedback.config import FeedbackConfig
from shared.contracts.feedback import (
    NegativeFeedbackReceived,
    SurveyAnswered,
    SurveyChannel,
    SurveyExpired,
    SurveyRequested,
    SurveySent,
)
from shared.decider import NotFound
from shared.sla.policy import PolicyBook
from tests.support.decider import Scenario, given, only
from tests.support.texts import ref

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
VISIT = uuid4()
SUBJECT = f"visit:{VISIT}"
SURVEY = s.survey_id_for(SUBJECT)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def request(**kw: object) -> s.RequestSurvey:
    fields: dict[str, object] = {
        "survey_id": SURVEY,
        "subject": SUBJECT,
        "customer_ref": "cust_ref_0001",
        "channel": SurveyChannel.sms,
        "requested_at": at(0),
        "expires_at": at(72),
        "staff_id": "teller-2",
        "service_type": "transfer",
    }
    return s.RequestSurvey(**(fields | kw))  # type: ignore[arg-type]


def survey(*commands: s.Command) -> Scenario[s.Command, s.Survey]:
    """A survey that went through ``commands`` (its past: the events they recorded)."""
    return given(s.survey_decider).after(*commands)


REQUESTED = (request(),)
SENT = (*REQUESTED, s.RecordSent("local-1", at(0.01)))


# ------------------------------------------------------------------------------- one survey


def test_request_records_channel_and_window() -> None:
    event = only(survey().when(request()), SurveyRequested)
    assert event.channel is SurveyChannel.sms and event.expires_at == at(72) and event.staff_id == "teller-2"


def test_one_survey_per_subject_never_two() -> None:
    assert s.survey_id_for(SUBJECT) == SURVEY
    assert s.survey_id_for(f"complaint:{VISIT}") != SURVEY
    for history in (REQUESTED, SENT, (*SENT, answer(5, at(1))), (*SENT, s.ExpireSurvey(at(72)))):
        survey(*history).when(request(requested_at=at(10), expires_at=at(82))).then()


def test_survey_ids_stay_stable() -> None:
    subject = "visit:11111111-1111-1111-1111-111111111111"
    assert str(s.survey_id_for(subject)) == "bb22ff3e-28cd-5fcd-a977-0036deda7a9f"


def test_a_window_must_end_after_the_request() -> None:
    survey().when(request(expires_at=at(0))).then_raises("window")


def test_sent_once_then_resends_record_nothing() -> None:
    assert (
        only(survey(*REQUESTED).when(s.RecordSent("local-1", at(0.01))), SurveySent).message_id == "local-1"
    )
    survey(*SENT).when(s.RecordSent("local-1", at(0.02))).then()
    survey(*REQUESTED, answer(4, at(0.5))).when(s.RecordSent("x", at(1))).then()


# ------------------------------------------------------------------------------------ window


@pytest.mark.parametrize("hours", [0.001, 1, 71.99])
def test_an_answer_inside_the_window_is_accepted(hours: float) -> None:
    event = only(survey(*SENT).when(answer(5, at(hours))), SurveyAnswered)
    assert event.score == 5 and not event.negative


def test_an_answer_before_the_message_went_out_is_accepted_too() -> None:
    """A phone survey can be answered on the call that asks it."""
    survey(*REQUESTED).when(answer(4, at(0.1))).then(SurveyAnswered)


@pytest.mark.parametrize("hours", [72, 72.01, 500])
def test_an_answer_at_or_after_72h_is_refused_even_before_the_expiry_fired(hours: float) -> None:
    survey(*SENT).when(answer(5, at(hours))).then_raises("closed", s.WindowClosed)


def test_an_expired_survey_refuses_answers() -> None:
    expired = survey(*SENT, s.ExpireSurvey(at(72)))
    assert expired.state.status is s.SurveyStatus.expired
    expired.when(answer(5, at(1))).then_raises("", s.WindowClosed)  # even with a clock that lags behind


def test_expiry_fires_once_and_not_after_an_answer() -> None:
    assert only(survey(*SENT).when(s.ExpireSurvey(at(72))), SurveyExpired).subject == SUBJECT
    survey(*SENT, s.ExpireSurvey(at(72))).when(s.ExpireSurvey(at(73))).then()
    survey(*SENT, answer(3, at(5))).when(s.ExpireSurvey(at(72))).then()


def test_window_comes_from_the_policy_book() -> None:
    book = PolicyBook.load()
    policy = book.policy("feedback.survey_window", "b001")
    assert policy.duration == timedelta(hours=72)
    assert book.calendar_for(policy, "b001").add_open_time(T0, policy.duration) == at(72)


# ------------------------------------------------------------------------------- duplicates


def test_a_second_answer_is_refused_as_already_answered() -> None:
    answered = survey(*SENT, answer(4, at(1)))
    answered.when(answer(5, at(2))).then_raises("", s.AlreadyAnswered)
    answered.when(answer(4, at(1))).then_raises("", s.AlreadyAnswered)  # the same answer: a duplicate too


def test_already_answered_wins_over_a_closed_window() -> None:
    survey(*SENT, answer(4, at(1))).when(answer(5, at(100))).then_raises("", s.AlreadyAnswered)


def test_an_unknown_survey_is_not_found() -> None:
    survey().when(answer(5, at(1))).then_raises("", NotFound)


def answer(score: int, t: datetime, comment: str = "", reasons: tuple[str, ...] = ()) -> s.AnswerSurvey:
    """An answer as the application hands it over: the comment's reference and its assessment."""
    return s.AnswerSurvey(
        score, t, ref(comment, "feedback") if comment else None, reasons, assess(score, comment)
    )


# ------------------------------------------------------------------------------ negative answers


@pytest.mark.parametrize("score", [1, 2])
def test_a_low_score_is_negative_and_triggers_recovery(score: int) -> None:
    outcome = survey(*SENT).when(answer(score, at(1)))
    outcome.then(SurveyAnswered, NegativeFeedbackReceived)
    negative = outcome.events[1]
    assert isinstance(negative, NegativeFeedbackReceived)
    assert negative.customer_ref == "cust_ref_0001" and negative.subject == SUBJECT
    assert negative.score == score and not negative.describes_complaint


@pytest.mark.parametrize("score", [3, 4, 5])
def test_a_fair_score_without_a_problem_is_not_negative(score: int) -> None:
    assert not only(survey(*SENT).when(answer(score, at(1), "fast and friendly")), SurveyAnswered).negative


def test_a_good_score_with_a_comment_naming_a_problem_is_negative() -> None:
    outcome = survey(*SENT).when(answer(4, at(1), "fine, but the queue machine was broken"))
    outcome.then(SurveyAnswered, NegativeFeedbackReceived)
    assert isinstance(outcome.events[0], SurveyAnswered) and outcome.events[0].negative


def test_a_comment_describing_a_complaint_is_flagged() -> None:
    outcome = survey(*SENT).when(answer(1, at(1), "我要投诉，柜员态度差，多扣了手续费"))
    outcome.then(SurveyAnswered, NegativeFeedbackReceived)
    negative = outcome.events[1]
    assert isinstance(negative, NegativeFeedbackReceived) and negative.describes_complaint
    assert "投诉" in negative.matched


def test_the_comment_travels_as_a_reference_never_as_words() -> None:
    comment = "Rude! Call me on 138 1234 5678, card 6222020200112233445"
    outcome = survey(*SENT).when(answer(1, at(1), comment, ("service_attitude",)))
    events = outcome.then(SurveyAnswered, NegativeFeedbackReceived).history[-2:]
    for event in events:
        text = event.model_dump_json()
        assert "Rude" not in text and "5678" not in text and "6222" not in text
    answered = events[0]
    assert isinstance(answered, SurveyAnswered)
    assert answered.comment == ref(comment, "feedback") and answered.reasons == ["service_attitude"]


def test_reasons_are_kept_once_each() -> None:
    outcome = survey(*SENT).when(answer(5, at(1), "", ("waiting_time", "waiting_time", "fees")))
    assert only(outcome, SurveyAnswered).reasons == ["waiting_time", "fees"]


def test_score_and_comment_bounds() -> None:
    survey(*SENT).when(answer(6, at(1))).then_raises("")
    survey(*SENT).when(answer(5, at(1), "x" * 501)).then_raises(
        "500"
    )  # the body refuses it first (TextRules(500))


# ------------------------------------------------------------------------------------ channel


def test_channel_customer_preference_beats_branch_beats_default() -> None:
    config = FeedbackConfig(default_channel=SurveyChannel.sms, branch_channels={"b9": SurveyChannel.phone})
    assert config.channel_for("b1", None) is SurveyChannel.sms
    assert config.channel_for("b9", None) is SurveyChannel.phone
    assert config.channel_for("b9", SurveyChannel.sms) is SurveyChannel.sms
    assert config.channel_for("b1", SurveyChannel.phone) is SurveyChannel.phone


def test_config_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEEDBACK_SURVEY_CHANNEL", "phone")
    monkeypatch.setenv("FEEDBACK_BRANCH_CHANNELS", "b1=sms, b2=phone")
    monkeypatch.setenv("FEEDBACK_SATISFACTION_TARGET", "0.9")
    config = FeedbackConfig.from_env()
    assert config.default_channel is SurveyChannel.phone and config.satisfaction_target == 0.9
    assert config.branch_channels == {"b1": SurveyChannel.sms, "b2": SurveyChannel.phone}
