"""Events of the feedback context (``feedback.events.v1``).

The events other contexts react to are defined here; the feedback service adds its internal
survey lifecycle events to this module too.

A customer's comment never travels: feedback keeps it (numbers masked, encrypted under the
customer's key) and events carry a :class:`~shared.contracts.text.TextRef` (schema v2). What the
comment says is decided by the application before the decider runs (``negative``,
``describes_complaint``, the matched keywords of the documented lists), never by the decider. The
phone number a survey goes to is never in an event: the sender looks it up from ``customer_ref``
at send time.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from pydantic import Field

from shared.contracts.common import CustomerRef, StaffId
from shared.contracts.text import TextRef, withhold_texts
from shared.registry import EventData, event

SurveyChannel = StrEnum("SurveyChannel", "sms phone")
ReasonCategory = StrEnum(
    "ReasonCategory",
    "waiting_time service_attitude professionalism process_complexity fees information "
    "system_failure environment outcome other",
)
ReasonCategory.__doc__ = "Why the customer scored as they did (optional, several allowed)."


class OnSurvey(EventData):
    # what every event of a survey says first (a base's fields come first)
    survey_id: UUID


@event("SurveyRequested")
class SurveyRequested(OnSurvey):
    """One survey per visit or complaint case (its id is derived from ``subject``)."""

    subject: str = Field(min_length=1, max_length=128)  # ``visit:<id>`` or ``complaint:<id>``
    customer_ref: CustomerRef
    channel: SurveyChannel
    requested_at: datetime
    #: the end of the answer window (``feedback.survey_window``, 72 h by default)
    expires_at: datetime
    staff_id: StaffId | None = None
    service_type: str | None = Field(default=None, max_length=64)
    source_event_id: UUID | None = None


@event("SurveySent")
class SurveySent(OnSurvey):
    channel: SurveyChannel
    #: the gateway's reference of the message (no phone number)
    message_id: str = Field(min_length=1, max_length=128)
    at: datetime


@event("SurveyAnswered", version=2)
class SurveyAnswered(OnSurvey):
    subject: str  # ``visit:<id>`` or ``complaint:<id>``
    score: int = Field(ge=1, le=5)
    reasons: list[str] = Field(default_factory=list, max_length=10)
    staff_id: StaffId | None = None
    service_type: str | None = None
    at: datetime
    #: the customer's comment (kept by feedback)
    comment: TextRef | None = None
    #: score ≤ 2 or a comment naming a problem (a NegativeFeedbackReceived follows)
    negative: bool = False


@event("SurveyExpired")
class SurveyExpired(OnSurvey):
    """The answer window closed without an answer."""

    subject: str
    at: datetime


@event("NegativeFeedbackReceived", version=2)
class NegativeFeedbackReceived(OnSurvey):
    """Score ≤ 2 or a comment naming a problem: follow-up schedules a service-recovery call;
    when ``describes_complaint`` the complaint service opens a case (channel ``survey``)."""

    subject: str
    customer_ref: CustomerRef
    score: int = Field(ge=1, le=5)
    comment: TextRef | None = None
    describes_complaint: bool = False
    at: datetime
    #: the problem words the comment matched (from the documented keyword rules)
    matched: list[str] = Field(default_factory=list, max_length=20)


# ------------------------------------------------------------------- delivery (issue 22)


#: - ``gateway_error``: the gateway failed or could not be reached
#: - ``gateway_rejected``: the gateway refused the message (e.g. a number it cannot deliver to)
#: - ``contact_unavailable``: the vault could not tell the number (unreachable or refusing)
#: - ``no_contact``: the customer has no number: erased, unknown to the vault, or none recorded
#:   (not retried)
#: - ``undelivered``: the gateway accepted the message, then reported it undelivered (handset off,
#:   no signal …)
DeliveryFailure = StrEnum(
    "DeliveryFailure", "gateway_error gateway_rejected contact_unavailable no_contact undelivered"
)
DeliveryFailure.__doc__ = (
    "Why a survey did not reach the customer (a code: no gateway text, no number travels)."
)


@event("SurveySendFailed")
class SurveySendFailed(OnSurvey):
    """An attempt to reach the customer failed. ``retry_at`` is the next attempt (backoff), or
    None when there will be none: a ``SurveyGivenUp`` follows. Never counted as asked."""

    channel: SurveyChannel
    #: the attempt that failed (1, 2, …)
    attempt: int = Field(ge=1, le=1000)
    reason: DeliveryFailure
    retry_at: datetime | None = None
    at: datetime


@event("SurveyGivenUp")
class SurveyGivenUp(OnSurvey):
    """The survey never reached the customer (attempts used up, nothing to send to, or the answer
    window ended while retrying): it leaves the response rate, it does not expire."""

    channel: SurveyChannel
    attempts: int = Field(ge=0, le=1000)
    reason: DeliveryFailure
    at: datetime


@event("SurveyDelivered")
class SurveyDelivered(OnSurvey):
    """The gateway reported the message delivered to the customer's handset."""

    channel: SurveyChannel
    at: datetime


# ------------------------------------------------------------- v1 events with raw free text

withhold_texts(SurveyAnswered, "feedback", "comment")
withhold_texts(NegativeFeedbackReceived, "feedback", "comment")
