"""Events of the feedback context (``feedback.events.v1``).

The events other contexts react to are defined here; the feedback service adds its internal
survey lifecycle events to this module too.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field

from shared.contracts.common import CustomerRef, Note, StaffId
from shared.registry import EventData, event


@event("SurveyAnswered")
class SurveyAnswered(EventData):
    survey_id: UUID
    subject: str  # ``visit:<id>`` or ``complaint:<id>``
    score: int = Field(ge=1, le=5)
    reasons: list[str] = Field(default_factory=list, max_length=10)
    staff_id: StaffId | None = None
    service_type: str | None = None
    at: datetime


@event("NegativeFeedbackReceived")
class NegativeFeedbackReceived(EventData):
    """Score ≤ 2 or a comment naming a problem: follow-up schedules a service-recovery call;
    when ``describes_complaint`` the complaint service opens a case (channel ``survey``)."""

    survey_id: UUID
    subject: str
    customer_ref: CustomerRef
    score: int = Field(ge=1, le=5)
    comment: Note = ""
    describes_complaint: bool = False
    at: datetime
