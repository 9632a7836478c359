"""Complaint HTTP views: the case, the board, an incident — built from the decider's state.

A case view also lists the steps allowed now (``allowed_steps``, computed by the decider, with
the reason for each step that is not), so a client shows only the buttons that will work.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from pydantic import BaseModel

from services.complaint import domain as d
from services.complaint.decider.steps import StepAllowed
from services.complaint.state import REGULATORY_SLA
from shared.contracts.complaint import Category, Channel, Level, Nature, Outcome, ReviewOutcome, Urgency
from shared.contracts.text import TextRef
from shared.envelope import Envelope
from shared.history import HistoryEntry
from shared.sla.deadlines import Deadline
from shared.texts import TextReader, TextView


class DeadlineView(BaseModel):
    deadline_id: UUID
    sla: str
    policy: str
    rule: str
    status: str
    started_at: datetime
    due_at: datetime | None
    remaining_seconds: int | None
    ended_at: datetime | None


class ClassificationView(BaseModel):
    category: Category
    nature: Nature
    source: str
    urgency: Urgency
    business_type: str | None = None
    cause_code: str | None = None


class SolutionView(BaseModel):
    solution_id: UUID
    description: TextView
    compensation: Decimal | None
    currency: str
    status: str
    cycle: int


class ComplaintCreated(BaseModel):
    complaint_id: UUID
    status: str
    version: int
    deadlines: list[DeadlineView]
    #: the same complainant's open case about the same matter took this repeat (no new case)
    merged: bool = False
    regulatory_profile: str | None = None


class PendingExtensionView(BaseModel):
    request_id: UUID
    requested_by: str
    reason: TextView
    limit_days: int
    at: datetime


class StepView(BaseModel):
    """A step of the case (the command route's last path segment) and whether the decider takes
    it now; when not, why (the decider's own words)."""

    step: str
    allowed: bool
    reason: str | None = None


class ComplaintView(BaseModel):
    complaint_id: UUID
    branch_id: str
    status: str
    on_hold: bool
    #: free texts: the reference and, for staff of the branch, the words (``shared.texts.TextView``)
    hold_reason: TextView | None
    level: Level
    cycle: int
    channel: Channel | None
    customer_ref: str | None
    #: this service's text, or (a case raised from a visit or a survey) ``elsewhere``: the console
    #: shows it from the owning service's ``GET /texts/{text_id}``
    description: TextView | None
    visit_id: UUID | None
    incident_id: UUID | None
    classification: ClassificationView | None
    solutions: list[SolutionView]
    received_at: datetime | None
    acknowledged_at: datetime | None
    customer_left_at: datetime | None
    resolved_at: datetime | None
    answered_at: datetime | None
    outcome: Outcome | None
    closed_at: datetime | None
    regulatory_limit_days: int
    version: int
    deadlines: list[DeadlineView]
    history: list[HistoryEntry] | None = None
    regulatory_profile: str | None = None
    handler: str | None = None
    about_staff: list[str] = []
    collective: bool = False
    representatives: list[str] = []
    repeats: int = 0
    pending_extension: PendingExtensionView | None = None
    decision_at: datetime | None = None
    review_outcome: ReviewOutcome | None = None
    #: every step of the case and whether it is allowed now, computed by the decider
    #: (``services.complaint.decider.steps``): advice for the buttons, the command still decides
    allowed_steps: list[StepView] = []


class BoardItem(BaseModel):
    complaint_id: UUID
    status: str
    on_hold: bool
    level: str
    channel: str
    category: str | None
    nature: str | None
    urgency: str | None
    cycle: int
    received_at: datetime
    visit_id: UUID | None
    incident_id: UUID | None
    sla_status: str
    next_sla: str | None
    next_due_at: datetime | None
    remaining_seconds: int | None
    version: int


class Board(BaseModel):
    branch_id: str
    as_of: datetime
    complaints: list[BoardItem]


class Incident(BaseModel):
    incident_id: UUID
    complaints: list[BoardItem]


def deadline_views(deadlines: list[Deadline], now: datetime) -> list[DeadlineView]:
    """The fields of ``Deadline.to_json``, from the values themselves (no round trip through
    ISO strings that pydantic parses back: a tenth of a create's view)."""
    return [
        DeadlineView(
            deadline_id=d.deadline_id,
            sla=d.sla,
            policy=d.policy,
            rule=d.rule,
            status=d.status(),
            started_at=d.started_at,
            due_at=d.due_at,
            remaining_seconds=None if d.due_at is None else round((d.due_at - now).total_seconds()),
            ended_at=d.ended_at,
        )
        for d in deadlines
    ]


def view(
    complaint_id: UUID,
    state: d.Complaint,
    version: int,
    branch_id: str,
    deadlines: list[Deadline],
    now: datetime,
    rules: d.ComplaintRules,
    texts: TextReader,
    history: list[Envelope] | None = None,
    steps: Sequence[StepAllowed] = (),
) -> ComplaintView:
    c = state.classification
    return ComplaintView(
        complaint_id=complaint_id,
        branch_id=branch_id,
        status=state.status.value,
        on_hold=state.on_hold,
        hold_reason=texts.view(state.hold_reason),
        level=state.level,
        cycle=state.cycle,
        channel=state.channel,
        customer_ref=state.customer_ref,
        description=texts.view(state.description),
        visit_id=state.visit_id,
        incident_id=state.incident_id,
        classification=ClassificationView.model_validate(c, from_attributes=True) if c else None,
        solutions=[
            SolutionView(
                solution_id=s.solution_id,
                description=_required(texts.view(s.description)),
                compensation=s.compensation,
                currency=s.currency,
                status=s.status.value,
                cycle=s.cycle,
            )
            for s in state.solutions
        ],
        received_at=state.received_at,
        acknowledged_at=state.acknowledged_at,
        customer_left_at=state.customer_left_at,
        resolved_at=state.resolved_at,
        answered_at=state.answered_at,
        outcome=state.outcome,
        closed_at=state.closed_at,
        regulatory_limit_days=_limit(state, rules),
        version=version,
        regulatory_profile=state.profile,
        handler=state.handler,
        about_staff=sorted(state.about_staff),
        collective=state.collective,
        representatives=list(state.representatives),
        repeats=state.repeats,
        pending_extension=None
        if state.pending_extension is None
        else PendingExtensionView(
            request_id=state.pending_extension.request_id,
            requested_by=state.pending_extension.requested_by,
            reason=_required(texts.view(state.pending_extension.reason)),
            limit_days=state.pending_extension.limit_days,
            at=state.pending_extension.at,
        ),
        decision_at=state.decision_at,
        review_outcome=state.review_outcome,
        deadlines=deadline_views(deadlines, now),
        allowed_steps=[StepView(step=s.step, allowed=s.allowed, reason=s.reason) for s in steps],
        history=None if history is None else [HistoryEntry.of(e, texts) for e in history],
    )


def _required(text: TextView | None) -> TextView:
    assert text is not None
    return text


def case_texts(state: d.Complaint) -> list[TextRef | None]:
    """Every text a case view shows."""
    pending = state.pending_extension
    return [
        state.description,
        state.hold_reason,
        *(s.description for s in state.solutions),
        pending.reason if pending else None,
    ]


def _limit(state: d.Complaint, rules: d.ComplaintRules) -> int:
    clock = state.clocks.get(REGULATORY_SLA)
    if clock is not None:
        return clock.limit
    return state.regulatory_limit_days or rules.regulatory_limit_days


def board_item(row: dict[str, Any], now: datetime) -> BoardItem:
    due = row.get("next_due_at")
    return BoardItem(
        **{k: row[k] for k in BoardItem.model_fields if k in row and k != "remaining_seconds"},
        remaining_seconds=None if due is None else round((due - now).total_seconds()),
    )
