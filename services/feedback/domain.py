"""The satisfaction survey decider (满意度调查): pure, no I/O; time arrives inside commands.

requested → (sent) → answered | expired, and apart from them ``send_failed``: an attempt to reach
the customer failed (with the reason), retried with backoff until it is sent, or given up
(``SurveyGivenUp``: attempts used up, no number, or the window ended while retrying) — a survey
that never reached the customer is not "asked", so it leaves the response rate.

One survey per visit or complaint case: its id is derived
from the subject (:func:`survey_id_for`), so requesting it again decides nothing. An answer is
accepted once, within the window (``expires_at``, 72 h by default). The comment never reaches the
decider: the application assesses it (:mod:`services.feedback.comments`, keyword rules), keeps it
in feedback's private store and hands over its reference and the assessment; the decider decides
on the score and the assessment only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from uuid import UUID, uuid5

from services.feedback.comments import NEGATIVE_SCORE_MAX, Assessment
from shared.contracts.feedback import (
    DeliveryFailure,
    NegativeFeedbackReceived,
    SurveyAnswered,
    SurveyChannel,
    SurveyDelivered,
    SurveyExpired,
    SurveyGivenUp,
    SurveyRequested,
    SurveySendFailed,
    SurveySent,
)
from shared.contracts.text import TextRef
from shared.decider import Decider, DomainError, NotFound
from shared.registry import EventData

#: an answer without a comment: nothing said
NO_FINDINGS = Assessment(negative=False, names_problem=False, describes_complaint=False)

#: namespace of survey ids (never change it: ids must stay stable on replay)
NAMESPACE = UUID("0c6f5d0e-8a7b-4f0e-b1c2-3d4e5f607182")
COMMENT_MAX = 500


class AlreadyAnswered(DomainError):
    """A second answer for the same survey (HTTP 409)."""


class WindowClosed(DomainError):
    """The answer window is over (HTTP 410)."""


class SurveyStatus(StrEnum):
    none = "none"
    requested = "requested"
    sent = "sent"
    answered = "answered"
    expired = "expired"
    #: an attempt to reach the customer failed: retrying, or (``given_up_at``) given up for good
    send_failed = "send_failed"


PENDING = frozenset({SurveyStatus.requested, SurveyStatus.sent, SurveyStatus.send_failed})


@dataclass(frozen=True)
class Survey:
    status: SurveyStatus = SurveyStatus.none
    survey_id: UUID | None = None
    subject: str = ""
    customer_ref: str | None = None
    channel: SurveyChannel | None = None
    requested_at: datetime | None = None
    expires_at: datetime | None = None
    staff_id: str | None = None
    service_type: str | None = None
    source_event_id: UUID | None = None
    sent_at: datetime | None = None
    message_id: str | None = None
    answered_at: datetime | None = None
    score: int | None = None
    comment: TextRef | None = None
    reasons: tuple[str, ...] = field(default_factory=tuple)
    negative: bool = False
    describes_complaint: bool = False
    expired_at: datetime | None = None
    #: attempts to reach the customer so far (failed and successful)
    attempts: int = 0
    #: the last delivery failure's reason (kept after a later success, for the record)
    failure: DeliveryFailure | None = None
    retry_at: datetime | None = None
    given_up_at: datetime | None = None
    delivered_at: datetime | None = None

    @property
    def pending(self) -> bool:
        """Still waiting for an answer (a survey given up waits for nothing)."""
        return self.status in PENDING and self.given_up_at is None

    @property
    def reached(self) -> bool:
        """It reached the customer: sent (and not reported undelivered since), or answered."""
        return self.status in (SurveyStatus.sent, SurveyStatus.answered) or self.sent_at is not None

    @property
    def subject_type(self) -> str:
        return self.subject.partition(":")[0]


# ------------------------------------------------------------------------------------ commands


@dataclass(frozen=True)
class RequestSurvey:
    survey_id: UUID
    subject: str
    customer_ref: str
    channel: SurveyChannel
    requested_at: datetime
    expires_at: datetime
    staff_id: str | None = None
    service_type: str | None = None
    source_event_id: UUID | None = None


@dataclass(frozen=True)
class RecordSent:
    message_id: str
    at: datetime


@dataclass(frozen=True)
class AnswerSurvey:
    score: int
    at: datetime
    #: the comment, kept by feedback (its words never come here)
    comment: TextRef | None = None
    reasons: tuple[str, ...] = ()
    #: what the comment says, by the documented keyword rules (``comments.assess`` on the words)
    assessment: Assessment = NO_FINDINGS


@dataclass(frozen=True)
class ExpireSurvey:
    at: datetime


@dataclass(frozen=True)
class RecordSendFailure:
    """An attempt failed (the dispatcher's, or the gateway's delivery report). ``retry_at``: the
    next attempt, None when there is none (then the survey is given up)."""

    reason: DeliveryFailure
    at: datetime
    retry_at: datetime | None = None


@dataclass(frozen=True)
class RecordDelivered:
    at: datetime


Command = RequestSurvey | RecordSent | AnswerSurvey | ExpireSurvey | RecordSendFailure | RecordDelivered


# ------------------------------------------------------------------------------------- decide


def decide(state: Survey, command: Command) -> Sequence[EventData]:
    match command:
        case RequestSurvey():
            return _request(state, command)
        case RecordSent():
            if not state.pending or state.status is SurveyStatus.sent or state.channel is None:
                return []  # sent already (a resend after a crash), or answered / expired meanwhile
            assert state.survey_id is not None
            return [
                SurveySent(
                    survey_id=state.survey_id,
                    channel=state.channel,
                    message_id=command.message_id,
                    at=command.at,
                )
            ]
        case ExpireSurvey():
            if not state.pending:
                return []
            assert state.survey_id is not None and state.channel is not None
            if state.status is SurveyStatus.send_failed:  # still failing: it never reached them
                reason = state.failure or DeliveryFailure.gateway_error
                return [_given_up(state, reason, command.at)]
            return [SurveyExpired(survey_id=state.survey_id, subject=state.subject, at=command.at)]
        case RecordSendFailure():
            if not state.pending:
                return []  # answered, expired or given up meanwhile: a late report changes nothing
            assert state.survey_id is not None and state.channel is not None
            failed = SurveySendFailed(
                survey_id=state.survey_id,
                channel=state.channel,
                attempt=state.attempts + 1,
                reason=command.reason,
                retry_at=command.retry_at,
                at=command.at,
            )
            if command.retry_at is not None:
                return [failed]
            return [failed, _given_up(state, command.reason, command.at, attempts=state.attempts + 1)]
        case RecordDelivered():
            if state.status is not SurveyStatus.sent or state.delivered_at is not None:
                return []
            assert state.survey_id is not None and state.channel is not None
            return [SurveyDelivered(survey_id=state.survey_id, channel=state.channel, at=command.at)]
        case AnswerSurvey():
            return _answer(state, command)
    raise DomainError(f"unknown command {type(command).__name__}")


def _given_up(
    state: Survey, reason: DeliveryFailure, at: datetime, attempts: int | None = None
) -> SurveyGivenUp:
    assert state.survey_id is not None and state.channel is not None
    return SurveyGivenUp(
        survey_id=state.survey_id,
        channel=state.channel,
        attempts=state.attempts if attempts is None else attempts,
        reason=reason,
        at=at,
    )


def _request(state: Survey, command: RequestSurvey) -> Sequence[EventData]:
    if state.status is not SurveyStatus.none:
        return []  # one survey per visit or case, never two
    if command.expires_at <= command.requested_at:
        raise DomainError("a survey's window must end after it is requested")
    return [
        SurveyRequested(
            survey_id=command.survey_id,
            subject=command.subject,
            customer_ref=command.customer_ref,
            channel=command.channel,
            requested_at=command.requested_at,
            expires_at=command.expires_at,
            staff_id=command.staff_id,
            service_type=command.service_type,
            source_event_id=command.source_event_id,
        )
    ]


def _answer(state: Survey, command: AnswerSurvey) -> Sequence[EventData]:
    if state.status is SurveyStatus.none:
        raise NotFound("no such survey")
    if state.status is SurveyStatus.answered:
        raise AlreadyAnswered("this survey has already been answered")
    if state.given_up_at is not None:
        raise WindowClosed("the survey never reached the customer and was given up")
    assert state.expires_at is not None and state.survey_id is not None and state.customer_ref is not None
    if state.status is SurveyStatus.expired or command.at >= state.expires_at:
        raise WindowClosed(f"the survey's answer window closed at {state.expires_at.isoformat()}")
    if not 1 <= command.score <= 5:
        raise DomainError("the score must be 1 to 5")
    if command.comment is not None and command.comment.length > COMMENT_MAX:
        raise DomainError(f"the comment is limited to {COMMENT_MAX} characters")
    verdict = command.assessment
    negative = command.score <= NEGATIVE_SCORE_MAX or verdict.names_problem
    comment = command.comment
    answered = SurveyAnswered(
        survey_id=state.survey_id,
        subject=state.subject,
        score=command.score,
        reasons=list(dict.fromkeys(command.reasons)),
        staff_id=state.staff_id,
        service_type=state.service_type,
        at=command.at,
        comment=comment,
        negative=negative,
    )
    if not negative:
        return [answered]
    return [
        answered,
        NegativeFeedbackReceived(
            survey_id=state.survey_id,
            subject=state.subject,
            customer_ref=state.customer_ref,
            score=command.score,
            comment=comment,
            describes_complaint=verdict.describes_complaint,
            at=command.at,
            matched=list(verdict.matched),
        ),
    ]


# ------------------------------------------------------------------------------------- evolve


def evolve(state: Survey, event: EventData) -> Survey:
    match event:
        case SurveyRequested():
            return replace(
                state,
                status=SurveyStatus.requested,
                survey_id=event.survey_id,
                subject=event.subject,
                customer_ref=event.customer_ref,
                channel=event.channel,
                requested_at=event.requested_at,
                expires_at=event.expires_at,
                staff_id=event.staff_id,
                service_type=event.service_type,
                source_event_id=event.source_event_id,
            )
        case SurveySent():
            return replace(
                state,
                status=SurveyStatus.sent,
                sent_at=event.at,
                message_id=event.message_id,
                attempts=state.attempts + 1,
                retry_at=None,
            )
        case SurveySendFailed():
            # a delivery report after the send: the message did not arrive after all
            return replace(
                state,
                status=SurveyStatus.send_failed,
                sent_at=None,
                message_id=None,
                attempts=event.attempt,
                failure=event.reason,
                retry_at=event.retry_at,
            )
        case SurveyGivenUp():
            return replace(
                state,
                status=SurveyStatus.send_failed,
                given_up_at=event.at,
                failure=event.reason,
                retry_at=None,
            )
        case SurveyDelivered():
            return replace(state, delivered_at=event.at)
        case SurveyAnswered():
            return replace(
                state,
                status=SurveyStatus.answered,
                answered_at=event.at,
                score=event.score,
                comment=event.comment,
                reasons=tuple(event.reasons),
                negative=event.negative,
            )
        case NegativeFeedbackReceived():
            return replace(state, negative=True, describes_complaint=event.describes_complaint)
        case SurveyExpired():
            return replace(state, status=SurveyStatus.expired, expired_at=event.at)
    return state


survey_decider: Decider[Command, Survey] = Decider(Survey(), decide, evolve)


def stream_id(survey_id: UUID) -> str:
    return f"survey-{survey_id}"


def survey_id_for(subject: str) -> UUID:
    """One survey per subject (``visit:<id>`` / ``complaint:<id>``), whoever asks how often."""
    return uuid5(NAMESPACE, subject)
