"""Complaint HTTP routes: one POST per lifecycle command, the case, the branch's board.

Every command answers 200 with the case's new state (and its version as ``ETag``), 409 with the
reason when it is not allowed now (or when ``If-Match`` / ``expected_version`` is stale), 404 for
an unknown case and 422 for bad input: unknown fields, over-long texts and bad values are refused.
The actor is the request's identity (``shared.http.command_metadata``), never a body field.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from services.complaint import domain as d
from services.complaint import projections
from services.complaint.app import ComplaintApp, app_for
from shared.commands import CommandResult
from shared.contracts.common import CustomerRef
from shared.contracts.complaint import (
    Category,
    Channel,
    HoldKind,
    Level,
    Nature,
    Outcome,
    ProposedSolution,
    Urgency,
)
from shared.envelope import Envelope, Metadata
from shared.http import command_metadata, expected_version
from shared.runner import ServiceContext, context
from shared.sla.deadlines import Deadline

router = APIRouter(tags=["complaints"])

BranchId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_\-]{1,64}$")]
Text = Annotated[str, Field(min_length=1, max_length=2000)]
OptionalText = Annotated[str, Field(max_length=2000)]


# ----------------------------------------------------------------------------------- bodies


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: the version the client read (alternative to ``If-Match``)
    expected_version: int | None = Field(default=None, ge=0)


class ReceiveComplaintBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Channel
    customer_ref: CustomerRef
    description: str = Field(min_length=1, max_length=4000)
    visit_id: UUID | None = None


class AcknowledgeBody(Body):
    apology: OptionalText = ""


class ClassifyBody(Body):
    category: Category
    nature: Nature
    source: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    urgency: Urgency = Urgency.normal


class NoteBody(Body):
    note: OptionalText = ""


class SolutionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    solution_id: UUID | None = None
    description: str = Field(min_length=1, max_length=2000)
    compensation: Decimal | None = Field(default=None, ge=0, le=1_000_000, decimal_places=2)
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")


class ProposeBody(Body):
    solutions: list[SolutionBody] = Field(min_length=1, max_length=5)


class SolutionDecisionBody(Body):
    solution_id: UUID
    note: OptionalText = ""


class RejectBody(Body):
    solution_id: UUID
    reason: Text


class AnswerBody(Body):
    answer: Text
    outcome: Outcome = Outcome.upheld


class CloseBody(Body):
    result: Text
    customer_satisfied: bool | None = None
    root_cause: Text | None = None
    remediation: Text | None = None


class ReasonBody(Body):
    reason: Text


class HoldBody(Body):
    reason: Text
    kind: HoldKind = HoldKind.waiting_on_customer


class EscalateBody(Body):
    reason: Text
    #: must be the next level up, if given (escalation goes one level at a time)
    to_level: Level | None = None


class MergeBody(Body):
    #: the incident to join; omitted: a new incident starts with this case
    incident_id: UUID | None = None
    cause: Text


class ProgressBody(Body):
    note: Text


# -------------------------------------------------------------------------------- responses


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


class SolutionView(BaseModel):
    solution_id: UUID
    description: str
    compensation: Decimal | None
    currency: str
    status: str
    cycle: int


class HistoryEntry(BaseModel):
    type: str
    stream_version: int
    occurred_at: datetime
    actor: str
    data: dict[str, Any]


class ComplaintCreated(BaseModel):
    complaint_id: UUID
    status: str
    version: int
    deadlines: list[DeadlineView]


class ComplaintView(BaseModel):
    complaint_id: UUID
    branch_id: str
    status: str
    on_hold: bool
    hold_reason: str | None
    level: Level
    cycle: int
    channel: Channel | None
    customer_ref: str | None
    description: str | None
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


# ------------------------------------------------------------------------------- plumbing


def complaint_app(ctx: Annotated[ServiceContext, Depends(context)]) -> ComplaintApp:
    return app_for(ctx)


App = Annotated[ComplaintApp, Depends(complaint_app)]
Meta = Annotated[Metadata, Depends(command_metadata)]
IfMatch = Annotated[str | None, Header(description='The version you read, e.g. "3"')]


def deadline_views(deadlines: list[Deadline], now: datetime) -> list[DeadlineView]:
    return [DeadlineView.model_validate(d.to_json(now)) for d in deadlines]


def view(
    complaint_id: UUID,
    state: d.Complaint,
    version: int,
    branch_id: str,
    deadlines: list[Deadline],
    now: datetime,
    rules: d.ComplaintRules,
    history: list[Envelope] | None = None,
) -> ComplaintView:
    c = state.classification
    return ComplaintView(
        complaint_id=complaint_id,
        branch_id=branch_id,
        status=state.status.value,
        on_hold=state.on_hold,
        hold_reason=state.hold_reason,
        level=state.level,
        cycle=state.cycle,
        channel=state.channel,
        customer_ref=state.customer_ref,
        description=state.description,
        visit_id=state.visit_id,
        incident_id=state.incident_id,
        classification=ClassificationView(
            category=c.category, nature=c.nature, source=c.source, urgency=c.urgency
        )
        if c
        else None,
        solutions=[
            SolutionView(
                solution_id=s.solution_id,
                description=s.description,
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
        regulatory_limit_days=state.regulatory_limit_days or rules.regulatory_limit_days,
        version=version,
        deadlines=deadline_views(deadlines, now),
        history=None
        if history is None
        else [
            HistoryEntry(
                type=e.type,
                stream_version=e.stream_version,
                occurred_at=e.occurred_at,
                actor=e.actor,
                data=e.data,
            )
            for e in history
        ],
    )


async def run(
    app: ComplaintApp,
    complaint_id: UUID,
    command: d.Command,
    body: Body | None,
    meta: Metadata,
    if_match: str | None,
    response: Response,
) -> ComplaintView:
    version = expected_version(if_match)
    if version is None and body is not None:
        version = body.expected_version
    result: CommandResult[d.Complaint] = await app.execute(
        complaint_id, command, meta=meta, expected_version=version
    )
    response.headers["ETag"] = f'"{result.version}"'
    deadlines = await app.deadlines_of(complaint_id)
    branch = result.events[0].branch_id if result.events else ""
    return view(complaint_id, result.state, result.version, branch, deadlines, app.clock.now(), app.rules)


# --------------------------------------------------------------------------------- routes


@router.post("/branches/{branch_id}/complaints", status_code=201, response_model=ComplaintCreated)
async def receive_complaint(
    branch_id: BranchId, body: ReceiveComplaintBody, app: App, meta: Meta, response: Response
) -> ComplaintCreated:
    """Record a complaint: who (customer reference), channel, what happened, optional visit."""
    result = await app.receive(
        branch_id,
        channel=body.channel,
        customer_ref=body.customer_ref,
        description=body.description,
        visit_id=body.visit_id,
        meta=meta,
    )
    assert result.state.complaint_id is not None
    complaint_id = result.state.complaint_id
    response.headers["ETag"] = f'"{result.version}"'
    response.headers["Location"] = f"/complaints/{complaint_id}"
    deadlines = await app.deadlines_of(complaint_id)
    return ComplaintCreated(
        complaint_id=complaint_id,
        status=result.state.status.value,
        version=result.version,
        deadlines=deadline_views(deadlines, app.clock.now()),
    )


@router.get("/complaints/{complaint_id}", response_model=ComplaintView)
async def get_complaint(complaint_id: UUID, app: App, response: Response) -> ComplaintView:
    """The case: its state, its history of events, its deadlines with the time remaining."""
    loaded = await app.get(complaint_id)
    response.headers["ETag"] = f'"{loaded.version}"'
    deadlines = await app.deadlines_of(complaint_id)
    return view(
        complaint_id,
        loaded.state,
        loaded.version,
        loaded.history[0].branch_id,
        deadlines,
        app.clock.now(),
        app.rules,
        loaded.history,
    )


@router.get("/branches/{branch_id}/complaints", response_model=Board)
async def branch_board(
    branch_id: BranchId,
    app: App,
    status: Annotated[str | None, Query(pattern=r"^[a-z_]{1,32}$")] = "open",
    sla: Annotated[Literal["on_track", "at_risk", "breached", "paused", "none"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Board:
    """The lobby's board: the branch's cases, nearest deadline first."""
    allowed = {"open", "on_hold", "all"} | {s.value for s in d.Status if s is not d.Status.none}
    if status not in allowed:
        raise HTTPException(422, f"status must be one of {sorted(allowed)}")
    now = app.clock.now()
    async with app.pool.acquire() as conn:
        rows = await projections.board(
            conn, branch_id, status=None if status == "all" else status, sla=sla, limit=limit
        )
    return Board(branch_id=branch_id, as_of=now, complaints=[board_item(r, now) for r in rows])


@router.get("/incidents/{incident_id}", response_model=Incident)
async def get_incident(incident_id: UUID, app: App) -> Incident:
    """The complaints merged into one incident (many complaints, one cause)."""
    now = app.clock.now()
    async with app.pool.acquire() as conn:
        rows = await projections.incident_cases(conn, incident_id)
    if not rows:
        raise HTTPException(404, f"incident {incident_id} has no complaints")
    return Incident(
        incident_id=incident_id,
        complaints=[
            board_item({**r, "sla_status": "", "next_sla": None, "next_due_at": None}, now) for r in rows
        ],
    )


def board_item(row: dict[str, Any], now: datetime) -> BoardItem:
    due = row.get("next_due_at")
    return BoardItem(
        **{k: row[k] for k in BoardItem.model_fields if k in row and k != "remaining_seconds"},
        remaining_seconds=None if due is None else round((due - now).total_seconds()),
    )


# one route per lifecycle command --------------------------------------------------------------


@router.post("/complaints/{complaint_id}/acknowledge", response_model=ComplaintView)
async def acknowledge(
    complaint_id: UUID,
    app: App,
    meta: Meta,
    response: Response,
    if_match: IfMatch = None,
    body: AcknowledgeBody | None = None,
) -> ComplaintView:
    """Acknowledge with an apology (the first response, due 30 min after receipt)."""
    body = body or AcknowledgeBody()
    return await run(
        app, complaint_id, d.Acknowledge(app.clock.now(), body.apology), body, meta, if_match, response
    )


@router.post("/complaints/{complaint_id}/classify", response_model=ComplaintView)
async def classify(
    complaint_id: UUID, body: ClassifyBody, app: App, meta: Meta, response: Response, if_match: IfMatch = None
) -> ComplaintView:
    """Content category, nature, source and urgency; major or urgent escalates at once."""
    command = d.Classify(app.clock.now(), body.category, body.nature, body.source, body.urgency)
    return await run(app, complaint_id, command, body, meta, if_match, response)


@router.post("/complaints/{complaint_id}/start-investigation", response_model=ComplaintView)
async def start_investigation(
    complaint_id: UUID,
    app: App,
    meta: Meta,
    response: Response,
    if_match: IfMatch = None,
    body: NoteBody | None = None,
) -> ComplaintView:
    body = body or NoteBody()
    command = d.StartInvestigation(app.clock.now(), body.note)
    return await run(app, complaint_id, command, body, meta, if_match, response)


@router.post("/complaints/{complaint_id}/propose", response_model=ComplaintView)
async def propose(
    complaint_id: UUID, body: ProposeBody, app: App, meta: Meta, response: Response, if_match: IfMatch = None
) -> ComplaintView:
    """Propose one or more alternative solutions (optional compensation); the customer decides on each."""
    solutions = tuple(
        ProposedSolution(
            solution_id=s.solution_id or uuid4(),
            description=s.description,
            compensation=s.compensation,
            currency=s.currency,
        )
        for s in body.solutions
    )
    return await run(
        app, complaint_id, d.ProposeSolutions(app.clock.now(), solutions), body, meta, if_match, response
    )


@router.post("/complaints/{complaint_id}/accept", response_model=ComplaintView)
async def accept(
    complaint_id: UUID,
    body: SolutionDecisionBody,
    app: App,
    meta: Meta,
    response: Response,
    if_match: IfMatch = None,
) -> ComplaintView:
    command = d.AcceptSolution(app.clock.now(), body.solution_id, body.note)
    return await run(app, complaint_id, command, body, meta, if_match, response)


@router.post("/complaints/{complaint_id}/reject", response_model=ComplaintView)
async def reject(
    complaint_id: UUID, body: RejectBody, app: App, meta: Meta, response: Response, if_match: IfMatch = None
) -> ComplaintView:
    """The customer rejects a solution; when none is left, a new proposal is needed."""
    command = d.RejectSolution(app.clock.now(), body.solution_id, body.reason)
    return await run(app, complaint_id, command, body, meta, if_match, response)


@router.post("/complaints/{complaint_id}/implement", response_model=ComplaintView)
async def implement(
    complaint_id: UUID,
    body: SolutionDecisionBody,
    app: App,
    meta: Meta,
    response: Response,
    if_match: IfMatch = None,
) -> ComplaintView:
    """The accepted solution is carried out: the case counts as resolved."""
    command = d.ImplementSolution(app.clock.now(), body.solution_id, body.note)
    return await run(app, complaint_id, command, body, meta, if_match, response)


@router.post("/complaints/{complaint_id}/answer", response_model=ComplaintView)
async def answer(
    complaint_id: UUID, body: AnswerBody, app: App, meta: Meta, response: Response, if_match: IfMatch = None
) -> ComplaintView:
    """The customer is told the bank's decision (``not_upheld`` needs no solution)."""
    command = d.Answer(app.clock.now(), body.answer, body.outcome)
    return await run(app, complaint_id, command, body, meta, if_match, response)


@router.post("/complaints/{complaint_id}/close", response_model=ComplaintView)
async def close(
    complaint_id: UUID, body: CloseBody, app: App, meta: Meta, response: Response, if_match: IfMatch = None
) -> ComplaintView:
    """Close with a record of process and result (a major case also needs root cause + remediation)."""
    command = d.Close(
        app.clock.now(), body.result, body.customer_satisfied, body.root_cause, body.remediation
    )
    return await run(app, complaint_id, command, body, meta, if_match, response)


@router.post("/complaints/{complaint_id}/reopen", response_model=ComplaintView)
async def reopen(
    complaint_id: UUID, body: ReasonBody, app: App, meta: Meta, response: Response, if_match: IfMatch = None
) -> ComplaintView:
    """Reopen within 30 days of the close: a new cycle of the same case, with fresh deadlines."""
    return await run(
        app, complaint_id, d.Reopen(app.clock.now(), body.reason), body, meta, if_match, response
    )


@router.post("/complaints/{complaint_id}/hold", response_model=ComplaintView)
async def hold(
    complaint_id: UUID, body: HoldBody, app: App, meta: Meta, response: Response, if_match: IfMatch = None
) -> ComplaintView:
    """Wait on the customer (or an external appraisal): the case's SLA clocks pause."""
    command = d.Hold(app.clock.now(), body.reason, body.kind)
    return await run(app, complaint_id, command, body, meta, if_match, response)


@router.post("/complaints/{complaint_id}/resume", response_model=ComplaintView)
async def resume(
    complaint_id: UUID,
    app: App,
    meta: Meta,
    response: Response,
    if_match: IfMatch = None,
    body: NoteBody | None = None,
) -> ComplaintView:
    body = body or NoteBody()
    return await run(app, complaint_id, d.Resume(app.clock.now(), body.note), body, meta, if_match, response)


@router.post("/complaints/{complaint_id}/escalate", response_model=ComplaintView)
async def escalate(
    complaint_id: UUID, body: EscalateBody, app: App, meta: Meta, response: Response, if_match: IfMatch = None
) -> ComplaintView:
    """Hand the case up one level (lobby manager → branch head → HQ department); never down."""
    command = d.Escalate(app.clock.now(), body.reason, body.to_level)
    return await run(app, complaint_id, command, body, meta, if_match, response)


@router.post("/complaints/{complaint_id}/merge", response_model=ComplaintView)
async def merge(
    complaint_id: UUID, body: MergeBody, app: App, meta: Meta, response: Response, if_match: IfMatch = None
) -> ComplaintView:
    """Merge into an incident: many complaints, one cause (e.g. a system outage)."""
    command = d.MergeIntoIncident(app.clock.now(), body.incident_id or uuid4(), body.cause)
    return await run(app, complaint_id, command, body, meta, if_match, response)


@router.post("/complaints/{complaint_id}/customer-left", response_model=ComplaintView)
async def customer_left(
    complaint_id: UUID,
    app: App,
    meta: Meta,
    response: Response,
    if_match: IfMatch = None,
    body: Body | None = None,
) -> ComplaintView:
    """The in-branch complainant left: the 24 h resolve deadline starts now."""
    return await run(app, complaint_id, d.RecordCustomerLeft(app.clock.now()), body, meta, if_match, response)


@router.post("/complaints/{complaint_id}/progress-update", response_model=ComplaintView)
async def progress_update(
    complaint_id: UUID, body: ProgressBody, app: App, meta: Meta, response: Response, if_match: IfMatch = None
) -> ComplaintView:
    """The complainant was told where the case stands (due every 24 h while open)."""
    command = d.GiveProgressUpdate(app.clock.now(), body.note)
    return await run(app, complaint_id, command, body, meta, if_match, response)


@router.post("/complaints/{complaint_id}/extend", response_model=ComplaintView)
async def extend(
    complaint_id: UUID, body: ReasonBody, app: App, meta: Meta, response: Response, if_match: IfMatch = None
) -> ComplaintView:
    """Extend the regulatory limit once (15 → 30 days) for a complex case, with a reason."""
    command = d.ExtendRegulatoryDeadline(app.clock.now(), body.reason)
    return await run(app, complaint_id, command, body, meta, if_match, response)
