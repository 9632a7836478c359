"""The aggregator's state and a folded batch's changes: plain data, no behaviour but merging.

:class:`ComplaintFacts` is one complaint as the branch side knows it (kept in ``hqfeed.complaints``
between batches, published to HQ as :class:`~shared.contracts.hqfeed.ComplaintFactsUpdated`);
:class:`BatchChanges` is what one batch changed, published as the contract's events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from uuid import UUID, uuid5

from pydantic import ConfigDict

from shared.contracts.hqfeed import (
    ComplaintFactsUpdated,
    CustomerRefsMerged,
    CustomerRefsMergeReversed,
    RemediationActionUpdated,
)
from shared.kpi_batch import KpiBatch

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

#: the follow-up service's task-id namespace (services/followup/decider/task.py ``task_id_for``): HQ derives
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


class ComplaintFacts(ComplaintFactsUpdated):
    """One complaint as the branch side folds it (table ``complaints``): the fields of the
    contract's :class:`~shared.contracts.hqfeed.ComplaintFactsUpdated` it is published as, kept
    mutable between batches, with its ids as text and unclassified until classified."""

    model_config = ConfigDict(frozen=False)

    complaint_id: str  # type: ignore[assignment]
    category: str = UNCLASSIFIED
    nature: str = UNCLASSIFIED
    incident_id: str | None = None  # type: ignore[assignment]
    visit_id: str | None = None  # type: ignore[assignment]


FACT_COLUMNS: tuple[str, ...] = tuple(ComplaintFacts.model_fields)


class RemediationTask(RemediationActionUpdated):
    """One 溯源整改 action as the follow-up task it becomes (table ``remediation_actions``), with
    the fields of the contract's :class:`~shared.contracts.hqfeed.RemediationActionUpdated`.

    Two topics fill it: the complaint's ``ComplaintClosed`` (action, owner, due) and follow-up's
    task events (scheduled, completed, cancelled). They may arrive in any order (a rebuild reads
    the topics side by side), so each column has one source and a merge keeps the first value
    known: the row is the same whichever side came first."""

    model_config = ConfigDict(frozen=False)

    task_id: str  # type: ignore[assignment]
    complaint_id: str | None = None  # type: ignore[assignment]
    action_id: str | None = None  # type: ignore[assignment]

    def merge(self, other: RemediationTask) -> None:
        for name in REMEDIATION_COLUMNS:
            if getattr(self, name) is None:
                setattr(self, name, getattr(other, name))


REMEDIATION_COLUMNS: tuple[str, ...] = tuple(RemediationTask.model_fields)


def remediation_task_id(close_event_id: UUID | str, action_id: UUID | str | None = None) -> str:
    """The follow-up task of a remediation action: ``task_id_for(close event, remediation, action)``
    (one task per action; an old close with remediation as text only makes one, without a key)."""
    if action_id is None:
        return str(uuid5(FOLLOWUP_TASK_NAMESPACE, f"{close_event_id}:{REMEDIATION}"))
    return str(uuid5(FOLLOWUP_TASK_NAMESPACE, f"{close_event_id}:{REMEDIATION}:{action_id}"))


@dataclass
class BatchChanges(KpiBatch):
    """What one batch of domain events changed, published as the contract's events."""

    complaints: dict[str, ComplaintFacts] = field(default_factory=dict)
    #: remediation actions / their follow-up tasks: task_id → what the batch learned of it
    remediation: dict[str, RemediationTask] = field(default_factory=dict)
    #: the vault's duplicate merges and their reversals, in order (HQ's customer aliases)
    aliases: list[CustomerRefsMerged | CustomerRefsMergeReversed] = field(default_factory=list)


@dataclass(frozen=True)
class FoldSettings:
    slot: timedelta = timedelta(minutes=5)
    #: categories watched for spikes; empty = all
    crisis_categories: frozenset[str] = frozenset()
