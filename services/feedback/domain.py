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
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid5

from services.feedback.comments import NEGATIVE_SCORE_MAX, Assessment
from shared.by_name import absorb, record, replace
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
from shared.decider import Command as _Command
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


class RequestSurvey(SurveyRequested):
    """Ask for a subject's survey: the command says what its ``SurveyRequested`` records, field for
    field and validated alike (a command, not an event: it is not registered)."""


class RecordSent(_Command):
    message_id: str
    at: datetime


class AnswerSurvey(_Command):
    score: int
    at: datetime
    #: the comment, kept by feedback (its words never come here)
    comment: TextRef | None = None
    reasons: tuple[str, ...] = ()
    #: what the comment says, by the documented keyword rules (``comments.assess`` on the words)
    assessment: Assessment = NO_FINDINGS


class ExpireSurvey(_Command):
    at: datetime


class RecordSendFailure(_Command):
    """An attempt failed (the dispatcher's, or the gateway's delivery report). ``retry_at``: the
    next attempt, None when there is none (then the survey is given up)."""

    reason: DeliveryFailure
    at: datetime
    retry_at: datetime | None = None


class RecordDelivered(_Command):
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
            return [record(SurveySent, command, state)]
        case ExpireSurvey():
            if not state.pending:
                return []
            assert state.survey_id is not None and state.channel is not None
            if state.status is SurveyStatus.send_failed:  # still failing: it never reached them
                reason = state.failure or DeliveryFailure.gateway_error
                return [_given_up(state, reason, command.at)]
            return [record(SurveyExpired, command, state)]
        case RecordSendFailure():
            if not state.pending:
                return []  # answered, expired or given up meanwhile: a late report changes nothing
            assert state.survey_id is not None and state.channel is not None
            failed = record(SurveySendFailed, command, state, attempt=state.attempts + 1)
            if command.retry_at is not None:
                return [failed]
            return [failed, _given_up(state, command.reason, command.at, attempts=state.attempts + 1)]
        case RecordDelivered():
            if state.status is not SurveyStatus.sent or state.delivered_at is not None:
                return []
            assert state.survey_id is not None and state.channel is not None
            return [record(SurveyDelivered, command, state)]
        case AnswerSurvey():
            return _answer(state, command)
    raise DomainError(f"unknown command {type(command).__name__}")


def _given_up(
    state: Survey, reason: DeliveryFailure, at: datetime, attempts: int | None = None
) -> SurveyGivenUp:
    return record(
        SurveyGivenUp, state, reason=reason, at=at, attempts=state.attempts if attempts is None else attempts
    )


def _request(state: Survey, command: RequestSurvey) -> Sequence[EventData]:
    if state.status is not SurveyStatus.none:
        return []  # one survey per visit or case, never two
    if command.expires_at <= command.requested_at:
        raise DomainError("a survey's window must end after it is requested")
    return [SurveyRequested(**command.model_dump())]


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
    answered = record(
        SurveyAnswered, command, state, reasons=list(dict.fromkeys(command.reasons)), negative=negative
    )
    if not negative:
        return [answered]
    matched = list(verdict.matched)
    return [
        answered,
        record(
            NegativeFeedbackReceived,
            command,
            state,
            describes_complaint=verdict.describes_complaint,
            matched=matched,
        ),
    ]


# ------------------------------------------------------------------------------------- evolve


def evolve(state: Survey, event: EventData) -> Survey:
    match event:
        case SurveyRequested():
            return absorb(state, event, status=SurveyStatus.requested)
        case SurveySent():
            return absorb(
                state,
                event,
                status=SurveyStatus.sent,
                sent_at=event.at,
                attempts=state.attempts + 1,
                retry_at=None,
            )
        case SurveySendFailed():
            # a delivery report after the send: the message did not arrive after all
            unsent = replace(state, sent_at=None, message_id=None, attempts=event.attempt)
            return _failed(unsent, event.reason, event.retry_at)
        case SurveyGivenUp():
            return _failed(state, event.reason, None, given_up_at=event.at)
        case SurveyDelivered():
            return replace(state, delivered_at=event.at)
        case SurveyAnswered():
            # the request's facts it repeats are the same
            return absorb(state, event, status=SurveyStatus.answered, answered_at=event.at)
        case NegativeFeedbackReceived():
            return replace(state, negative=True, describes_complaint=event.describes_complaint)
        case SurveyExpired():
            return replace(state, status=SurveyStatus.expired, expired_at=event.at)
    return state


def _failed(state: Survey, reason: DeliveryFailure, retry_at: datetime | None, **more: Any) -> Survey:
    """An attempt failed: the reason is kept (after a later success too), the next attempt is set."""
    return replace(state, status=SurveyStatus.send_failed, failure=reason, retry_at=retry_at, **more)


survey_decider: Decider[Command, Survey] = Decider(Survey(), decide, evolve)


def stream_id(survey_id: UUID) -> str:
    return f"survey-{survey_id}"


def survey_id_for(subject: str) -> UUID:
    """One survey per subject (``visit:<id>`` / ``complaint:<id>``), whoever asks how often."""
    return uuid5(NAMESPACE, subject)
