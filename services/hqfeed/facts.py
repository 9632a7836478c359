"""The aggregator's state and a folded batch's changes: plain data, no behaviour but merging.

:class:`ComplaintFacts` is one complaint as the branch side knows it (kept in ``hqfeed.complaints``
between batches, published to HQ as :class:`~shared.contracts.hqfeed.ComplaintFactsUpdated`);
:class:`BatchChanges` is what one batch changed, published as the contract's events.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from uuid import UUID, uuid5

from shared.contracts.hqfeed import CustomerRefsMerged, CustomerRefsMergeReversed

UNCLASSIFIED = "unclassified"

#: SLA completion: event type → the SLA it completes (met when it had not breached before)
SLA_ACK = "complaint.acknowledge"
SLA_RESOLVE = "complaint.resolve"
SLA_REGULATORY = "complaint.regulatory"
SLA_PROGRESS = "complaint.progress_update"
SLA_WAIT = "reception.wait"
SLA_PHONE = "reception.phone_answer"
SLA_FOLLOWUP = "followup.due"
SLA_VERIFICATION = "followup.verification"
SLA_REVIEW = "complaint.review"
DAY_SECONDS = 86_400.0

#: the follow-up service's task-id namespace (services/followup/domain.py ``task_id_for``): HQ derives
#: the id of the task a remediation action becomes the way follow-up does, to join the two topics
FOLLOWUP_TASK_NAMESPACE = UUID("5b0f3c52-3a41-4e4e-9a5c-7f0d8e1f2a60")
REMEDIATION = "remediation"

#: events that end their subject: every breach still open for it is no longer "open"
TERMINAL = frozenset(
    {
        "VisitLeft",
        "CallEnded",
        "ComplaintClosed",
        "FollowUpCompleted",
        "FollowUpCancelled",
        "SurveyExpired",
        # a survey given up when its window ends while retrying had its window deadline breach
        # first: the survey ends there (it never expires), so the breach is no longer "now"
        "SurveyGivenUp",
    }
)
#: events that complete an SLA (met, or late if it breached) or restart a subject's deadlines
CLOSES_BREACHES = frozenset(
    {
        "ComplaintAcknowledged",
        "SolutionImplemented",
        "ComplaintAnswered",
        "ProgressUpdateGiven",
        "ComplaintReopened",
        "ReviewRequested",
        "VisitCalled",
        "CallAnswered",
        "FollowUpCompleted",
    }
)


@dataclass
class ComplaintFacts:
    """One complaint as HQ knows it (table ``complaints``)."""

    complaint_id: str
    branch_id: str
    channel: str | None = None
    customer_ref: str | None = None
    received_at: datetime | None = None
    received_day: date | None = None
    category: str = UNCLASSIFIED
    nature: str = UNCLASSIFIED
    urgency: str | None = None
    source: str | None = None
    cycle: int = 1
    cycle_started_at: datetime | None = None
    acknowledged_at: datetime | None = None
    first_acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    decided_at: datetime | None = None
    first_decided_at: datetime | None = None
    outcome: str | None = None
    #: receipt → first decision, minus the time on hold before it (the regulatory handling time)
    handling_seconds: float | None = None
    closed_at: datetime | None = None
    first_closed_at: datetime | None = None
    closed: bool = False
    reopened: int = 0
    escalations: int = 0
    escalated_first_cycle: bool = False
    fcr: bool = False
    held_seconds: float = 0.0
    hold_since: datetime | None = None
    extensions: int = 0
    limit_days: int | None = None
    incident_id: str | None = None
    visit_id: str | None = None
    root_cause: bool = False
    # regulatory profile, code tables, extensions needing approval and reviews (issue 8's reports)
    regulatory_profile: str | None = None
    business_type: str | None = None
    cause_code: str | None = None
    bank_at_fault: bool | None = None
    extensions_requested: int = 0
    extensions_approved: int = 0
    extensions_denied: int = 0
    reviews: int = 0
    review_outcome: str | None = None
    last_event_at: datetime | None = None
    events: int = 0
    # the first decision against the regulatory clock (``regulatory_outcomes`` of ComplaintAnswered)
    #: days used, paused time excluded: the clock's ``counted_days`` when it counts calendar days,
    #: else (business-day clocks, cases without a regulatory clock) the handling time in days
    decision_days: float | None = None
    #: the regulatory clock's unit, limit and verdict at the first decision (None: no clock met)
    decision_unit: str | None = None
    decision_limit: int | None = None
    decided_within_limit: bool | None = None
    reviews_decided: int = 0
    reviews_upheld: int = 0
    reviews_changed: int = 0
    reviews_within_limit: int = 0


FACT_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(ComplaintFacts))


@dataclass
class RemediationTask:
    """One 溯源整改 action as the follow-up task it becomes (table ``remediation_actions``).

    Two topics fill it: the complaint's ``ComplaintClosed`` (action, owner, due) and follow-up's
    task events (scheduled, completed, cancelled). They may arrive in any order (a rebuild reads
    the topics side by side), so each column has one source and a merge keeps the first value
    known: the row is the same whichever side came first."""

    task_id: str
    complaint_id: str | None = None
    branch_id: str | None = None
    action_id: str | None = None
    owner: str | None = None
    due_at: datetime | None = None
    #: when the action was decided (the close)
    created_at: datetime | None = None
    scheduled_at: datetime | None = None
    followup_due_at: datetime | None = None
    completed_at: datetime | None = None
    cancelled_at: datetime | None = None

    def merge(self, other: RemediationTask) -> None:
        for f in fields(self):
            if getattr(self, f.name) is None:
                setattr(self, f.name, getattr(other, f.name))


REMEDIATION_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(RemediationTask))


def remediation_task_id(close_event_id: UUID | str, action_id: UUID | str | None = None) -> str:
    """The follow-up task of a remediation action: ``task_id_for(close event, remediation, action)``
    (one task per action; an old close with remediation as text only makes one, without a key)."""
    if action_id is None:
        return str(uuid5(FOLLOWUP_TASK_NAMESPACE, f"{close_event_id}:{REMEDIATION}"))
    return str(uuid5(FOLLOWUP_TASK_NAMESPACE, f"{close_event_id}:{REMEDIATION}:{action_id}"))


@dataclass
class BatchChanges:
    #: (branch, day) → counter deltas (may be negative, e.g. an FCR close undone by a reopen)
    day: dict[tuple[str, date], dict[str, float]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(float))
    )
    #: (branch, day, sla) → met / breached / late / at_risk
    day_sla: dict[tuple[str, date, str], Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    #: (branch, day, category, nature, channel) → received / closed
    day_category: dict[tuple[str, date, str, str, str], Counter[str]] = field(
        default_factory=lambda: defaultdict(Counter)
    )
    complaints: dict[str, ComplaintFacts] = field(default_factory=dict)
    #: open breaches to insert: (subject_id, sla) → (branch_id, subject_type, breached_at)
    breaches_added: dict[tuple[str, str], tuple[str, str, datetime]] = field(default_factory=dict)
    #: open breaches (present before the batch) to delete
    breaches_deleted: set[tuple[str, str]] = field(default_factory=set)
    #: complaints received per branch (table ``branch_complaints``) and the latest recorded_at
    received: Counter[str] = field(default_factory=Counter)
    received_latest: dict[str, datetime] = field(default_factory=dict)
    #: branch → (first occurred_at, last recorded_at) seen in the batch
    branches: dict[str, tuple[datetime, datetime]] = field(default_factory=dict)
    #: (category, slot start, branch) → classified complaints received in that slot
    slots: Counter[tuple[str, datetime, str]] = field(default_factory=Counter)
    #: customer_refs whose complaints changed (repeat-complainant check)
    customer_refs: set[str] = field(default_factory=set)
    #: remediation actions / their follow-up tasks: task_id → what the batch learned of it
    remediation: dict[str, RemediationTask] = field(default_factory=dict)
    #: the vault's duplicate merges and their reversals, in order (HQ's customer aliases)
    aliases: list[CustomerRefsMerged | CustomerRefsMergeReversed] = field(default_factory=list)


@dataclass(frozen=True)
class FoldSettings:
    slot: timedelta = timedelta(minutes=5)
    #: categories watched for spikes; empty = all
    crisis_categories: frozenset[str] = frozenset()
