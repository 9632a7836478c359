"""Headquarters' contract (``hqfeed.events.v1``): what the branch side publishes for HQ.

HQ reads nothing else of the branches. The branch-side aggregator (``services/hqfeed``) folds the
four domain topics into these events, so HQ is coupled to this small, versioned vocabulary instead
of every branch service's internal events, and nothing typed by staff ever reaches it.

Every field is a code (a pattern or an enum), a count, a duration, a timestamp or a pseudonymous id
(complaint / task / subject UUIDs, the vault's ``customer_ref``, a staff id as owner): no free text
and no text reference. ``tests/unit/hqfeed/test_contract_no_free_text.py`` walks the JSON Schemas
and fails on any string without a pattern, an enum or a date/uuid format.

Five event types, all on the branch's stream (``hqfeed:<branch>``, keyed by ``branch_id``):

- :class:`BranchKpisDelta`: per branch, for what one aggregator batch folded, additive counter
  deltas per local day (the KPIs, the wait histogram, SLA outcomes per SLA, complaints by
  category × nature × channel), crisis-slot counts, and the breaches opened / closed. Additive:
  HQ applies each exactly once (its projection's per-stream versions), and sums are exact.
- :class:`ComplaintFactsUpdated`: the latest facts of one complaint, complete (a snapshot): the
  newest one of a case is all HQ needs of it.
- :class:`RemediationActionUpdated`: what the batch learned of one remediation action / the
  follow-up task it became; HQ keeps the first value known per column (the same row in any order).
- :class:`CustomerRefsMerged` / :class:`CustomerRefsMergeReversed`: the vault's duplicate merge
  (reception's ``CustomersMerged`` / ``CustomerMergeReversed``) as two pseudonyms, the branch and
  the time; HQ keeps them as aliases resolved when it looks for repeat complainants.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.common import StaffId
from shared.contracts.refs import CustomerRef
from shared.registry import EventData, event

#: upper bounds (seconds) of the lobby-wait histogram buckets; the last bucket is open-ended.
#: 15 min (target) and 30 min (breach) are bounds, so "share within target" is exact.
WAIT_BUCKETS: tuple[float, ...] = (30, 60, 120, 300, 600, 900, 1200, 1800, 2700, 3600, math.inf)
WAIT_COLUMNS: tuple[str, ...] = tuple(f"wait_b{i}" for i in range(len(WAIT_BUCKETS)))

#: counters of one branch and local day; all add up across days, branches and regions
COUNTERS: tuple[str, ...] = (
    "events",
    # reception
    "visits",
    "visits_queued",
    "visits_served",
    "visits_abandoned",
    "visits_no_show",
    "visits_left",
    "wait_count",
    "wait_seconds",
    *WAIT_COLUMNS,
    "wait_breaches",
    "calls",
    "calls_answered",
    "calls_in_target",
    "calls_missed",
    # complaints
    "complaints_received",
    "complaints_acknowledged",
    "ack_seconds",
    "complaints_decided",
    "decide_seconds",
    "complaints_closed",
    "first_closes",
    "fcr_closes",
    "complaints_reopened",
    "complaints_escalated",
    # SLA deadlines (all policies; per policy in ``DayCounts.sla``)
    "sla_met",
    "sla_breached",
    "sla_late",
    # follow-up
    "followups_scheduled",
    "followups_completed",
    "followups_cancelled",
    "followups_overdue",
    "verifications_failed",
    # feedback
    "surveys_requested",
    "surveys_answered",
    "surveys_satisfied",
    "surveys_negative",
    "surveys_expired",
    "score_sum",
    # feedback's delivery (issue 22), apart from the rates: failed attempts (each retried with
    # backoff or followed by a give-up), surveys given up (never reached the customer; they never
    # expire, so they are outside the response rate), of which for want of a number (the
    # customer's record has no mobile number: the branch can fix it, unlike a gateway failure),
    # delivery reports from the gateway.
    # Appended: a record without them decodes as 0 (``DayCounts.counters`` holds changed ones only)
    "survey_send_failures",
    "surveys_given_up",
    "surveys_given_up_no_contact",
    "surveys_delivered",
)
#: counters holding seconds (floats); the rest are integers
FLOAT_COUNTERS = frozenset({"wait_seconds", "ack_seconds", "decide_seconds"})


def bucket_index(seconds: float) -> int:
    """The wait bucket a duration falls into (bounds are inclusive upper bounds)."""
    for i, bound in enumerate(WAIT_BUCKETS):
        if seconds <= bound:
            return i
    return len(WAIT_BUCKETS) - 1


#: a code: category, nature, channel, SLA name, outcome, profile, business type, cause code…
Code = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:\-]{1,64}$")]
#: a branch id as in envelopes (``b001``, ``r01-b0001``)
BranchId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]
#: the id of an SLA's subject (a visit, call, complaint, task or survey id)
SubjectId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:\-]{1,128}$")]
#: the name of a KPI counter (:data:`COUNTERS`)
CounterName = Annotated[str, Field(pattern="^(" + "|".join(COUNTERS) + ")$")]


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SlaCounts(_Part):
    """Deadline outcomes of one SLA on one day: met, breached, completed late, at risk."""

    sla: Code
    met: int = 0
    breached: int = 0
    late: int = 0
    at_risk: int = 0


class CategoryCounts(_Part):
    """Complaints received (on the receipt day; a reclassification moves one: -1 / +1) and closed."""

    category: Code
    nature: Code
    channel: Code
    received: int = 0
    closed: int = 0


class DayCounts(_Part):
    """Additive deltas of one branch's local day."""

    day: date
    #: counter → delta (only the counters that changed)
    counters: dict[CounterName, float] = Field(default_factory=dict)
    sla: list[SlaCounts] = Field(default_factory=list)
    categories: list[CategoryCounts] = Field(default_factory=list)


#: crisis slots are published per minute of receipt, so HQ can sum them into any slot length
CRISIS_SLOT_MINUTES = 1


class SlotCount(_Part):
    """Classifications of complaints of a category received in one minute (``slot``: its start);
    HQ sums them into its own crisis slots and watches the categories it is configured to."""

    category: Code
    slot: datetime
    complaints: int


class OpenBreach(_Part):
    subject_id: SubjectId
    sla: Code
    subject_type: Code | None = None
    breached_at: datetime


class ClosedBreach(_Part):
    subject_id: SubjectId
    sla: Code


@event("BranchKpisDelta")
class BranchKpisDelta(EventData):
    """What one aggregator batch changed of a branch's KPIs: counter deltas per local day, crisis
    slots, and the SLA breaches that opened or ended (HQ's "breaching now" / "overdue now")."""

    branch_id: BranchId
    #: the earliest ``occurred_at`` and latest ``recorded_at`` of the branch events folded
    first_event_at: datetime
    last_event_at: datetime
    days: list[DayCounts] = Field(default_factory=list)
    #: complaints received (by their events, whatever the day) and the latest one's recorded_at
    complaints_received: int = 0
    complaints_received_at: datetime | None = None
    crisis_slots: list[SlotCount] = Field(default_factory=list)
    breaches_opened: list[OpenBreach] = Field(default_factory=list)
    breaches_closed: list[ClosedBreach] = Field(default_factory=list)


@event("ComplaintFactsUpdated")
class ComplaintFactsUpdated(EventData):
    """The latest facts of one complaint (a complete snapshot; the newest replaces the older)."""

    complaint_id: UUID
    branch_id: BranchId
    channel: Code | None = None
    customer_ref: CustomerRef | None = None
    received_at: datetime | None = None
    received_day: date | None = None
    category: Code
    nature: Code
    urgency: Code | None = None
    source: Code | None = None
    cycle: int = 1
    cycle_started_at: datetime | None = None
    acknowledged_at: datetime | None = None
    first_acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    decided_at: datetime | None = None
    first_decided_at: datetime | None = None
    outcome: Code | None = None
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
    incident_id: UUID | None = None
    visit_id: UUID | None = None
    root_cause: bool = False
    # regulatory profile, code tables, extensions needing approval and reviews (issue 8's reports)
    regulatory_profile: Code | None = None
    business_type: Code | None = None
    cause_code: Code | None = None
    bank_at_fault: bool | None = None
    extensions_requested: int = 0
    extensions_approved: int = 0
    extensions_denied: int = 0
    reviews: int = 0
    review_outcome: Code | None = None
    last_event_at: datetime | None = None
    events: int = 0
    # the first decision against the regulatory clock (``regulatory_outcomes`` of ComplaintAnswered)
    #: days used, paused time excluded: the clock's ``counted_days`` when it counts calendar days,
    #: else (business-day clocks, cases without a regulatory clock) the handling time in days
    decision_days: float | None = None
    #: the regulatory clock's unit, limit and verdict at the first decision (None: no clock met)
    decision_unit: Code | None = None
    decision_limit: int | None = None
    decided_within_limit: bool | None = None
    reviews_decided: int = 0
    reviews_upheld: int = 0
    reviews_changed: int = 0
    reviews_within_limit: int = 0


@event("RemediationActionUpdated")
class RemediationActionUpdated(EventData):
    """What was learned of one 溯源整改 action (from the close) or of the follow-up task it became."""

    task_id: UUID
    complaint_id: UUID | None = None
    branch_id: BranchId | None = None
    action_id: UUID | None = None
    #: the staff member who owns the action (a staff id, never a name)
    owner: StaffId | None = None
    due_at: datetime | None = None
    #: when the action was decided (the close)
    created_at: datetime | None = None
    scheduled_at: datetime | None = None
    followup_due_at: datetime | None = None
    completed_at: datetime | None = None
    cancelled_at: datetime | None = None


@event("CustomerRefsMerged")
class CustomerRefsMerged(EventData):
    """Two customer refs are one customer from ``at`` on (the vault merged a duplicate record):
    HQ counts ``merged_customer_ref``'s complaints as ``survivor_customer_ref``'s. Pseudonyms only;
    the merge's basis and reason stay in the branch's vault and audit trail."""

    branch_id: BranchId
    survivor_customer_ref: CustomerRef
    merged_customer_ref: CustomerRef
    at: datetime


@event("CustomerRefsMergeReversed")
class CustomerRefsMergeReversed(EventData):
    """A merge undone: ``merged_customer_ref`` is its own customer again from ``at`` on."""

    branch_id: BranchId
    survivor_customer_ref: CustomerRef
    merged_customer_ref: CustomerRef
    at: datetime


#: the HQ-facing event types, in the order a batch publishes them
HQ_CONTRACT: tuple[type[EventData], ...] = (
    ComplaintFactsUpdated,
    RemediationActionUpdated,
    CustomerRefsMerged,
    CustomerRefsMergeReversed,
    BranchKpisDelta,
)
