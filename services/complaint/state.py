"""The state of a complaint case, as the decider folds it from the case's events."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from uuid import UUID

from services.complaint.regclocks import Clocks
from shared.contracts.complaint import (
    Channel,
    ComplaintClassified,
    ComplaintPutOnHold,
    ExtensionRequested,
    HoldKind,
    InterimKind,
    Level,
    Outcome,
    ReviewOutcome,
)
from shared.contracts.text import TextRef

LEVELS: tuple[Level, ...] = (Level.lobby_manager, Level.branch_head, Level.hq_department)


RESOLVE_SLA = "complaint.resolve"
REGULATORY_SLA = "complaint.regulatory"


class Status(StrEnum):
    none = "none"
    received = "received"
    acknowledged = "acknowledged"
    classified = "classified"
    investigating = "investigating"
    solutions_proposed = "solutions_proposed"
    solutions_rejected = "solutions_rejected"
    solution_accepted = "solution_accepted"
    implemented = "implemented"
    answered = "answered"
    closed = "closed"
    reopened = "reopened"
    #: the higher level reviews the decision (cn-2020): a cycle of its own
    under_review = "under_review"


OPEN_STATUSES = frozenset(Status) - {Status.none, Status.closed}


class SolutionStatus(StrEnum):
    proposed = "proposed"
    accepted = "accepted"
    rejected = "rejected"
    implemented = "implemented"


@dataclass(frozen=True)
class Solution:
    solution_id: UUID
    description: TextRef
    compensation: Decimal | None
    currency: str
    status: SolutionStatus
    cycle: int


@dataclass(frozen=True)
class Complaint:
    status: Status = Status.none
    complaint_id: UUID | None = None
    channel: Channel | None = None
    customer_ref: str | None = None
    description: TextRef | None = None
    visit_id: UUID | None = None
    received_at: datetime | None = None
    source_event_id: UUID | None = None
    cycle: int = 1
    cycle_started_at: datetime | None = None
    acknowledged_at: datetime | None = None
    #: the latest classification as recorded (codes carried over from an earlier one it left out)
    classification: ComplaintClassified | None = None
    level: Level = Level.lobby_manager
    solutions: tuple[Solution, ...] = ()
    #: the hold the case is in, as recorded (its reason, kind and since when); None: not on hold
    hold: ComplaintPutOnHold | None = None
    customer_left_at: datetime | None = None
    resolved_at: datetime | None = None
    answered_at: datetime | None = None
    outcome: Outcome | None = None
    closed_at: datetime | None = None
    incident_id: UUID | None = None
    regulatory_extensions: int = 0
    #: the regulatory limit after an extension in this cycle (None: the rules' base limit)
    regulatory_limit_days: int | None = None
    classification_escalated: bool = False
    #: SLA milestones recorded in the current cycle: (deadline_id, sla, "at_risk:0.8" | "breached")
    sla_fired: frozenset[tuple[UUID, str, str]] = frozenset()
    breached_slas: frozenset[str] = frozenset()
    #: ids of other contexts' events already acted on (reopen, failed correction)
    handled_sources: frozenset[UUID] = frozenset()
    escalations: int = 0
    # --- regulatory profile (issue 8) ------------------------------------------------------------
    #: the profile the case was received under (None: a case without one, lifecycle rules only)
    profile: str | None = None
    #: the branch calendar business days count in (as recorded when its clocks started)
    calendar: str | None = None
    business_type: str | None = None
    cause_code: str | None = None
    matter_key: str | None = None
    about_staff: frozenset[str] = frozenset()
    handler: str | None = None
    collective: bool = False
    representatives: tuple[str, ...] = ()
    clocks: Clocks = field(default_factory=Clocks)
    #: a further extension waiting for approval: its request
    pending_extension: ExtensionRequested | None = None
    #: the last decision told to the complainant (the answer), which a review may examine
    decision_at: datetime | None = None
    #: the decision under (or after) review: each decision is reviewed at most once
    reviewed_decision_at: datetime | None = None
    review_outcome: ReviewOutcome | None = None
    repeats: int = 0
    new_material: int = 0
    interim_responses: tuple[tuple[InterimKind, datetime], ...] = ()
    root_cause_recorded: bool = False

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def on_hold(self) -> bool:
        return self.hold is not None

    @property
    def hold_reason(self) -> TextRef | None:
        return self.hold.reason if self.hold else None

    @property
    def held_since(self) -> datetime | None:
        return self.hold.at if self.hold else None

    @property
    def hold_kind(self) -> HoldKind | None:
        return self.hold.kind if self.hold else None

    def solution(self, solution_id: UUID) -> Solution | None:
        return next((s for s in self.solutions if s.solution_id == solution_id), None)

    def current_solutions(self, *statuses: SolutionStatus) -> list[Solution]:
        return [s for s in self.solutions if s.cycle == self.cycle and (not statuses or s.status in statuses)]

    @property
    def effective_business_type(self) -> str | None:
        c = self.classification
        return (c.business_type if c and c.business_type else None) or self.business_type

    @property
    def matter_keys(self) -> list[str]:
        """Keys under which a repeat of this complaint is recognised (its matter, its category)."""
        keys = [self.matter_key] if self.matter_key else []
        if self.classification is not None:
            keys.append(f"category:{self.classification.category.value}")
        return keys
