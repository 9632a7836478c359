"""The events a regulatory profile adds (issue 8): milestones, repeats, new material, staff,
extensions, interim responses and reviews."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field

from shared.contracts.common import CustomerRef, StaffId
from shared.contracts.complaint.lifecycle import CaseStep, OnCase
from shared.contracts.complaint.vocabulary import (
    Channel,
    ClockOutcome,
    ClockStart,
    InterimKind,
    Level,
    LimitUnit,
    MatterKey,
    ReviewOutcome,
    SlaName,
    _clocks,
)
from shared.contracts.text import TextRef, withhold_texts
from shared.registry import event

__all__ = [
    "ComplaintStaffIdentified",
    "ExtensionApproved",
    "ExtensionDenied",
    "ExtensionRequested",
    "HandlerAssigned",
    "InterimResponseSent",
    "NewMaterialReceived",
    "RegulatoryMilestoneReached",
    "RepeatComplaintMerged",
    "ReviewDecided",
    "ReviewRequested",
]


@event("RegulatoryMilestoneReached")
class RegulatoryMilestoneReached(OnCase):
    """A warning before a regulatory limit (e.g. day 10 of 15): a task for the branch head."""

    deadline_id: UUID
    sla: SlaName
    profile: str = Field(min_length=1, max_length=32)
    limit: int = Field(ge=1, le=365)
    unit: LimitUnit
    #: how far into the limit, in ``unit`` (e.g. 10.0 of 15)
    day: float = Field(ge=0)
    due_at: datetime
    #: what to do now, e.g. "decide, or extend to 30 days now"
    action: str = Field(min_length=1, max_length=500)
    assignee_role: Level = Level.branch_head
    at: datetime


@event("RepeatComplaintMerged", version=2)
class RepeatComplaintMerged(CaseStep):
    """The same complainant raised the same matter again while the case is open: recorded on the
    open case, no new case and no new clock (unless it brings new facts)."""

    channel: Channel
    customer_ref: CustomerRef
    matter_key: MatterKey | None = None
    description: TextRef
    #: the branch where the repeat came in (may differ from the case's)
    received_in_branch: str | None = Field(default=None, max_length=64)
    new_facts: bool = False
    source_event_id: UUID | None = None
    #: new facts restart the decision clock from today (cn-2020)
    regulatory_clocks: list[ClockStart] = _clocks()


@event("NewMaterialReceived", version=2)
class NewMaterialReceived(CaseStep):
    """New facts or reasons from the complainant (cn-2020: the clock restarts from this day)."""

    summary: TextRef
    restarts_clock: bool
    regulatory_clocks: list[ClockStart] = _clocks()


@event("ComplaintStaffIdentified")
class ComplaintStaffIdentified(OnCase):
    """Members of staff the complaint is about (they may not handle it)."""

    staff_ids: list[StaffId] = Field(min_length=1, max_length=10)
    at: datetime


@event("HandlerAssigned")
class HandlerAssigned(OnCase):
    handler: StaffId
    previous: StaffId | None = None
    at: datetime


class _OnExtensionRequest(OnCase):
    # the fields a request and its decision share (in this order on each: a base's fields come first)
    request_id: UUID
    sla: SlaName = "complaint.regulatory"


@event("ExtensionRequested", version=2)
class ExtensionRequested(_OnExtensionRequest):
    """A further extension (cn-2020: to 60 days) that needs approval by higher-level management."""

    requested_by: StaffId
    reason: TextRef
    limit_days: int = Field(ge=1, le=365)
    extension: int = Field(ge=1)
    at: datetime


@event("ExtensionApproved", version=2)
class ExtensionApproved(_OnExtensionRequest):
    approved_by: StaffId
    requested_by: StaffId
    limit_days: int = Field(ge=1, le=365)
    note: TextRef | None = None
    at: datetime


@event("ExtensionDenied", version=2)
class ExtensionDenied(_OnExtensionRequest):
    """Without approval the earlier limit stands."""

    denied_by: StaffId
    requested_by: StaffId
    reason: TextRef
    at: datetime


@event("InterimResponseSent", version=2)
class InterimResponseSent(OnCase):
    """uk-fca holding response / us-cfpb "in progress" response."""

    kind: InterimKind
    note: TextRef
    refers_to_ombudsman: bool = False
    #: when the final response will come (uk-fca payment services: by business day 35)
    final_response_by: datetime | None = None
    at: datetime
    regulatory_outcomes: list[ClockOutcome] = _clocks()


@event("ReviewRequested", version=2)
class ReviewRequested(CaseStep):
    """The complainant asks the higher level to review the decision: a new cycle with its own clock."""

    reason: TextRef
    cycle: int = Field(ge=2)
    #: the decision under review
    decision_at: datetime
    reviewing_level: Level
    #: the review's own deadline
    regulatory_clocks: list[ClockStart] = _clocks()


@event("ReviewDecided", version=2)
class ReviewDecided(CaseStep):
    outcome: ReviewOutcome
    decision: TextRef
    cycle: int = Field(ge=2)
    regulatory_outcomes: list[ClockOutcome] = _clocks()


# ------------------------------------------------------------- v1 events with raw free text

withhold_texts(RepeatComplaintMerged, "complaint", "description")
withhold_texts(NewMaterialReceived, "complaint", "summary")
withhold_texts(ExtensionRequested, "complaint", "reason")
withhold_texts(ExtensionApproved, "complaint", "note")
withhold_texts(ExtensionDenied, "complaint", "reason")
withhold_texts(InterimResponseSent, "complaint", "note")
withhold_texts(ReviewRequested, "complaint", "reason")
withhold_texts(ReviewDecided, "complaint", "decision")
