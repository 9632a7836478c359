"""Complaint HTTP routes: one POST per lifecycle command, the case, the branch's board.

Every command answers 200 with the case's new state (and its version as ``ETag``), 409 with the
reason when it is not allowed now (or when ``If-Match`` / ``expected_version`` is stale), 404 for
an unknown case and 422 for bad input: unknown fields, over-long texts and bad values are refused.
The actor is the request's identity (``shared.http.command_metadata``: the bearer token's staff
id), never a body field.

Every route declares its action (``shared.auth.requires``; the table is in ``shared/SECURITY.md``).
Commands on a case pass ``staff.check_branch`` to the command handler: the case's branch is checked
after loading and before anything is decided (403, nothing recorded). Reads by id check it before
answering; an incident shows only the cases of the branches the reader may see.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from services.complaint import domain as d
from services.complaint import projections
from services.complaint.app import ComplaintApp, app_for
from services.complaint.explain import explain
from services.complaint.state import REGULATORY_SLA
from shared.audit import annotate
from shared.auth import Principal, is_allowed, requires, requires_on
from shared.commands import CommandResult, Loaded
from shared.contracts.common import CustomerRef, StaffId
from shared.contracts.complaint import (
    Category,
    Channel,
    Code,
    HoldKind,
    InterimKind,
    Level,
    MatterKey,
    Nature,
    Outcome,
    ProposedSolution,
    RemediationAction,
    ResponseKind,
    ReviewOutcome,
    Urgency,
)
from shared.contracts.text import FreeText, TextRef, TextRules
from shared.envelope import Envelope, Metadata
from shared.http import command_metadata, expected_version
from shared.idempotency import AlreadyCreated, Create, IdempotencyKey, replay
from shared.runner import ServiceContext, context
from shared.sla.deadlines import Deadline
from shared.texts import TextBatch, TextReader, TextView, may_read_texts, refs_in

router = APIRouter(tags=["complaints"])

BranchId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_\-]{1,64}$")]
#: staff's free text (validated: NFC, trimmed, no control characters; kept by this service, never
#: put into an event: events carry a TextRef)
Text = Annotated[str, TextRules(2000, min_length=1)]
OptionalText = Annotated[str, TextRules(2000)]


# ----------------------------------------------------------------------------------- bodies


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: the version the client read (alternative to ``If-Match``)
    expected_version: int | None = Field(default=None, ge=0)


class ReceiveComplaintBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Channel
    customer_ref: CustomerRef
    description: FreeText
    visit_id: UUID | None = None
    #: business type code (the profile's code table), if known
    business_type: Code | None = None
    #: what the complaint is about (e.g. ``card:****1234``): a repeat of an open case is merged into it
    matter_key: MatterKey | None = None
    #: the content category, if known at receipt (also recognises a repeat)
    category: Category | None = None
    #: members of staff the complaint is about (they may not handle it)
    about_staff: list[StaffId] = Field(default_factory=list, max_length=10)
    collective: bool = False
    representatives: list[CustomerRef] = Field(default_factory=list, max_length=20)
    #: a repeat that brings new facts or reasons restarts the decision clock (cn-2020)
    new_facts: bool = False


class AcknowledgeBody(Body):
    apology: OptionalText = ""


class ClassifyBody(Body):
    category: Category
    nature: Nature
    source: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    urgency: Urgency = Urgency.normal
    business_type: Code | None = None
    cause_code: Code | None = None


class NoteBody(Body):
    note: OptionalText = ""


class SolutionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    solution_id: UUID | None = None
    description: Text
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
    #: uk-fca: ``summary_resolution`` within 3 business days of receipt, else ``final``
    response_kind: ResponseKind | None = None
    #: the response tells the complainant of their right to go to the ombudsman (uk-fca)
    refers_to_ombudsman: bool | None = None


class RemediationBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action_id: UUID | None = None
    description: Text
    owner: StaffId
    due_at: datetime


class CloseBody(Body):
    result: Text
    customer_satisfied: bool | None = None
    root_cause: Text | None = None
    remediation: Text | None = None
    #: the bank was at fault: closing needs a root cause and remediation actions
    bank_at_fault: bool | None = None
    cause_code: Code | None = None
    #: 溯源整改 actions, each with an owner and a due time (follow-up tasks)
    remediation_actions: list[RemediationBody] = Field(default_factory=list, max_length=10)


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


class AssignBody(Body):
    handler: StaffId


class StaffBody(Body):
    staff_ids: list[StaffId] = Field(min_length=1, max_length=10)


class MaterialBody(Body):
    summary: Text


class DecisionNoteBody(Body):
    note: OptionalText = ""


class InterimBody(Body):
    kind: InterimKind
    note: Text
    refers_to_ombudsman: bool = False


class ReviewDecisionBody(Body):
    outcome: ReviewOutcome
    decision: Text


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
    business_type: str | None = None
    cause_code: str | None = None


class SolutionView(BaseModel):
    solution_id: UUID
    description: TextView
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
    #: the same complainant's open case about the same matter took this repeat (no new case)
    merged: bool = False
    regulatory_profile: str | None = None


class PendingExtensionView(BaseModel):
    request_id: UUID
    requested_by: str
    reason: TextView
    limit_days: int
    at: datetime


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


async def complaint_branch(complaint_id: UUID, app: App) -> str | None:
    """The case's branch, checked before a route on it runs (``requires_on``): staff of another
    branch get 403 whatever body they send."""
    return await app.handler.branch_of(d.stream_id(complaint_id))


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
    texts: TextReader,
    history: list[Envelope] | None = None,
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
        classification=ClassificationView(
            category=c.category,
            nature=c.nature,
            source=c.source,
            urgency=c.urgency,
            business_type=c.business_type,
            cause_code=c.cause_code,
        )
        if c
        else None,
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
        history=None
        if history is None
        else [
            HistoryEntry(
                type=e.type,
                stream_version=e.stream_version,
                occurred_at=e.occurred_at,
                actor=e.actor,
                data=texts.render(e.data),
            )
            for e in history
        ],
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


async def reader_for(
    app: ComplaintApp,
    state: d.Complaint,
    staff: Principal,
    branch_id: str,
    history: list[Envelope] | None = None,
) -> TextReader:
    refs = case_texts(state) + [r for e in history or () for r in refs_in(e.data)]
    async with app.pool.acquire() as conn:
        return await app.texts.reader(conn, refs, may_read=may_read_texts(staff, branch_id))


def _limit(state: d.Complaint, rules: d.ComplaintRules) -> int:
    clock = state.clocks.get(REGULATORY_SLA)
    if clock is not None:
        return clock.limit
    return state.regulatory_limit_days or rules.regulatory_limit_days


async def run(
    app: ComplaintApp,
    complaint_id: UUID,
    command: d.Command,
    body: Body | None,
    staff: Principal,
    meta: Metadata,
    if_match: str | None,
    response: Response,
    texts: TextBatch | None = None,
) -> ComplaintView:
    version = expected_version(if_match)
    if version is None and body is not None:
        version = body.expected_version
    result: CommandResult[d.Complaint] = await app.execute(
        complaint_id,
        command,
        meta=meta,
        expected_version=version,
        check_branch=staff.check_branch,
        texts=texts,
    )
    response.headers["ETag"] = f'"{result.version}"'
    deadlines = await app.deadlines_of(complaint_id)
    branch = (
        result.events[0].branch_id if result.events else (await complaint_branch(complaint_id, app) or "")
    )
    reader = await reader_for(app, result.state, staff, branch)
    return view(
        complaint_id, result.state, result.version, branch, deadlines, app.clock.now(), app.rules, reader
    )


# --------------------------------------------------------------------------------- routes


@router.post(
    "/branches/{branch_id}/complaints",
    status_code=201,
    response_model=ComplaintCreated,
    responses={200: {"description": "merged into the open case (cn-2020), or a replay of a merge"}},
)
async def receive_complaint(
    branch_id: BranchId,
    body: ReceiveComplaintBody,
    app: App,
    staff: Annotated[Principal, Depends(requires("complaint.create"))],
    meta: Meta,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> ComplaintCreated:
    """Record a complaint: who (customer reference), channel, what happened, optional visit.

    Under a profile that merges repeats (cn-2020), the same complainant raising the same matter
    while a case about it is open is recorded on that case: 200 with ``merged: true``. With an
    ``Idempotency-Key`` a retry answers the case the first request opened (or merged into)."""
    create = Create.of(request, idempotency_key, scope=branch_id, body=body)
    texts = app.texts.batch()
    try:
        result, merged = await app.receive(
            branch_id,
            channel=body.channel,
            customer_ref=body.customer_ref,
            description=texts.require(body.description),
            texts=texts,
            visit_id=body.visit_id,
            meta=meta,
            business_type=body.business_type,
            matter_key=body.matter_key,
            category=body.category,
            about_staff=tuple(body.about_staff),
            collective=body.collective,
            representatives=tuple(body.representatives),
            new_facts=body.new_facts,
            check_branch=staff.check_branch,
            create=create,
        )
    except AlreadyCreated as done:
        replay(response, done)
        complaint_id = UUID(done.resource_id)
        loaded = await app.get(complaint_id)
        return await _created(app, request, response, complaint_id, loaded, merged=done.status == 200)
    assert result.state.complaint_id is not None
    if merged:
        response.status_code = 200
    loaded = Loaded(result.state, result.version, [])
    return await _created(app, request, response, result.state.complaint_id, loaded, merged=merged)


async def _created(
    app: ComplaintApp,
    request: Request,
    response: Response,
    complaint_id: UUID,
    loaded: Loaded[d.Complaint],
    *,
    merged: bool,
) -> ComplaintCreated:
    annotate(request, resource_id=str(complaint_id))
    response.headers["ETag"] = f'"{loaded.version}"'
    response.headers["Location"] = f"/complaints/{complaint_id}"
    deadlines = await app.deadlines_of(complaint_id)
    return ComplaintCreated(
        complaint_id=complaint_id,
        status=loaded.state.status.value,
        version=loaded.version,
        deadlines=deadline_views(deadlines, app.clock.now()),
        merged=merged,
        regulatory_profile=loaded.state.profile,
    )


@router.get("/complaints/{complaint_id}", response_model=ComplaintView)
async def get_complaint(
    complaint_id: UUID,
    app: App,
    staff: Annotated[Principal, Depends(requires_on("complaint.read", complaint_branch))],
    response: Response,
) -> ComplaintView:
    """The case: its state, its history of events, its deadlines with the time remaining."""
    loaded = await app.get(complaint_id)
    branch = loaded.history[0].branch_id
    staff.check_branch(branch)
    response.headers["ETag"] = f'"{loaded.version}"'
    deadlines = await app.deadlines_of(complaint_id)
    reader = await reader_for(app, loaded.state, staff, branch, loaded.history)
    return view(
        complaint_id,
        loaded.state,
        loaded.version,
        branch,
        deadlines,
        app.clock.now(),
        app.rules,
        reader,
        loaded.history,
    )


@router.get("/branches/{branch_id}/complaints", response_model=Board)
async def branch_board(
    branch_id: BranchId,
    app: App,
    staff: Annotated[Principal, Depends(requires("complaint.read"))],
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
async def get_incident(
    incident_id: UUID, app: App, staff: Annotated[Principal, Depends(requires("complaint.incident.read"))]
) -> Incident:
    """The complaints merged into one incident (many complaints, one cause): only those of the
    branches the reader may see (an incident may span branches); 403 when that leaves none."""
    now = app.clock.now()
    async with app.pool.acquire() as conn:
        found = await projections.incident_cases(conn, incident_id)
    if not found:
        raise HTTPException(404, f"incident {incident_id} has no complaints")
    rows = [r for r in found if is_allowed(staff, "complaint.incident.read", r["branch_id"])]
    for branch in sorted({r["branch_id"] for r in rows} or {found[0]["branch_id"]}):
        staff.check_branch(branch)  # 403 when none is visible; marks the branch check done
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
    staff: Annotated[Principal, Depends(requires_on("complaint.acknowledge", complaint_branch))],
    meta: Meta,
    response: Response,
    if_match: IfMatch = None,
    body: AcknowledgeBody | None = None,
) -> ComplaintView:
    """Acknowledge with an apology (the first response, due 30 min after receipt)."""
    body = body or AcknowledgeBody()
    t = app.texts.batch()
    command = d.Acknowledge(app.clock.now(), t.add(body.apology))
    return await run(app, complaint_id, command, body, staff, meta, if_match, response, t)


@router.post("/complaints/{complaint_id}/classify", response_model=ComplaintView)
async def classify(
    complaint_id: UUID,
    body: ClassifyBody,
    app: App,
    staff: Annotated[Principal, Depends(requires_on("complaint.classify", complaint_branch))],
    meta: Meta,
    response: Response,
    if_match: IfMatch = None,
) -> ComplaintView:
    """Content category, nature, source and urgency (+ business type and cause code from the
    profile's code tables); major or urgent escalates at once."""
    command = d.Classify(
        app.clock.now(),
        body.category,
        body.nature,
        body.source,
        body.urgency,
        body.business_type,
        body.cause_code,
    )
    return await run(app, complaint_id, command, body, staff, meta, if_match, response)


@router.post("/complaints/{complaint_id}/start-investigation", response_model=ComplaintView)
async def start_investigation(
    complaint_id: UUID,
    app: App,
    staff: Annotated[Principal, Depends(requires_on("complaint.investigate", complaint_branch))],
    meta: Meta,
    response: Response,
    if_match: IfMatch = None,
    body: NoteBody | None = None,
) -> ComplaintView:
    body = body or NoteBody()
    t = app.texts.batch()
    command = d.StartInvestigation(app.clock.now(), t.add(body.note))
    return await run(app, complaint_id, command, body, staff, meta, if_match, response, t)


@router.post("/complaints/{complaint_id}/propose", response_model=ComplaintView)
async def propose(
    complaint_id: UUID,
    body: ProposeBody,
    app: App,
    staff: Annotated[Principal, Depends(requires_on("complaint.propose", complaint_branch))],
    meta: Meta,
    response: Response,
    if_match: IfMatch = None,
) -> ComplaintView:
    """Propose one or more alternative solutions (optional compensation); the customer decides on each."""
    t = app.texts.batch()
    solutions = tuple(
        ProposedSolution(
            solution_id=s.solution_id or uuid4(),
            description=t.require(s.description),
            compensation=s.compensation,
            currency=s.currency,
        )
        for s in body.solutions
    )
    command = d.ProposeSolutions(app.clock.now(), solutions)
    return await run(app, complaint_id, command, body, staff, meta, if_match, response, t)


@router.post("/complaints/{complaint_id}/accept", response_model=ComplaintView)
async def accept(
    complaint_id: UUID,
    body: SolutionDecisionBody,
    app: App,
    staff: Annotated[Principal, Depends(requires_on("complaint.accept", complaint_branch))],
    meta: Meta,
    response: Response,
    if_match: IfMatch = None,
) -> ComplaintView:
    t = app.texts.batch()
    command = d.AcceptSolution(app.clock.now(), body.solution_id, t.add(body.note))
    return await run(app, complaint_id, command, body, staff, meta, if_match, response, t)


@router.post("/complaints/{complaint_id}/reject", response_model=ComplaintView)
async def reject(
    complaint_id: UUID,
    body: RejectBody,
    app: App,
    staff: Annotated[Principal, Depends(requires_on("complaint.reject", complaint_branch))],
    meta: Meta,
    response: Response,
    if_match: IfMatch = None,
) -> ComplaintView:
    """The customer rejects a solution; when none is left, a new proposal is needed."""
    t = app.texts.batch()
    command = d.RejectSolution(app.clock.now(), body.solution_id, t.require(body.reason))
    return await run(app, complaint_id, command, body, staff, meta, if_match, response, t)


@router.post("/complaints/{complaint_id}/implement", response_model=ComplaintView)
async def implement(
    complaint_id: UUID,
    body: SolutionDecisionBody,
    app: App,
    staff: Annotated[Principal, Depends(requires_on("complaint.implement", complaint_branch))],
    meta: Meta,
    response: Response,
    if_match: IfMatch = None,
) -> ComplaintView:
    """The accepted solution is carried out: the case counts as resolved."""
    t = app.texts.batch()
    command = d.ImplementSolution(app.clock.now(), body.solution_id, t.add(body.note))
    return await run(app, complaint_id, command, body, staff, meta, if_match, response, t)


@router.post("/complaints/{complaint_id}/answer", response_model=ComplaintView)
async def answer(
    complaint_id: UUID,
    body: AnswerBody,
    app: App,
    staff: Annotated[Principal, Depends(requires_on("complaint.answer", complaint_branch))],
    meta: Meta,
    response: Response,
    if_match: IfMatch = None,
) -> ComplaintView:
    """The customer is told the bank's decision (``not_upheld`` needs no solution)."""
    t = app.texts.batch()
    command = d.Answer(
        app.clock.now(), t.require(body.answer), body.outcome, body.response_kind, body.refers_to_ombudsman
    )
    return await run(app, complaint_id, command, body, staff, meta, if_match, response, t)


@router.post("/complaints/{complaint_id}/close", response_model=ComplaintView)
async def close(
    complaint_id: UUID,
    body: CloseBody,
    app: App,
    staff: Annotated[Principal, Depends(requires_on("complaint.close", complaint_branch))],
    meta: Meta,
    response: Response,
    if_match: IfMatch = None,
) -> ComplaintView:
    """Close with a record of process and result; a major case, or one where the bank was at
    fault, also needs its root cause and remediation actions with owners and due times (溯源整改)."""
    t = app.texts.batch()
    actions = tuple(
        RemediationAction(
            action_id=a.action_id or uuid4(),
            description=t.require(a.description),
            owner=a.owner,
            due_at=a.due_at,
        )
        for a in body.remediation_actions
    )
    command = d.Close(
        app.clock.now(),
        t.require(body.result),
        body.customer_satisfied,
        t.add(body.root_cause),
        t.add(body.remediation),
        body.bank_at_fault,
        body.cause_code,
        actions,
    )
    return await run(app, complaint_id, command, body, staff, meta, if_match, response, t)


@router.post("/complaints/{complaint_id}/reopen", response_model=ComplaintView)
async def reopen(
    complaint_id: UUID,
    body: ReasonBody,
    app: App,
    staff: Annotated[Principal, Depends(requires_on("complaint.reopen", complaint_branch))],
    meta: Meta,
    response: Response,
    if_match: IfMatch = None,
) -> ComplaintView:
    """Reopen within 30 days of the close: a new cycle of the same case, with fresh deadlines."""
    t = app.texts.batch()
    command = d.Reopen(app.clock.now(), t.require(body.reason))
    return await run(app, complaint_id, command, body, staff, meta, if_match, response, t)


@router.post("/complaints/{complaint_id}/hold", response_model=ComplaintView)
async def hold(
    complaint_id: UUID,
    body: HoldBody,
    app: App,
    staff: Annotated[Principal, Depends(requires_on("complaint.hold", complaint_branch))],
    meta: Meta,
    response: Response,
    if_match: IfMatch = None,
) -> ComplaintView:
    """Wait on the customer (or an external appraisal): the case's SLA clocks pause."""
    t = app.texts.batch()
    command = d.Hold(app.clock.now(), t.require(body.reason), body.kind)
    return await run(app, complaint_id, command, body, staff, meta, if_match, response, t)


@router.post("/complaints/{complaint_id}/resume", response_model=ComplaintView)
async def resume(
    complaint_id: UUID,
    app: App,
    staff: Annotated[Principal, Depends(requires_on("complaint.resume", complaint_branch))],
    meta: Meta,
    response: Response,
    if_match: IfMatch = None,
    body: NoteBody | None = None,
) -> ComplaintView:
    body = body or NoteBody()
    t = app.texts.batch()
    command = d.Resume(app.clock.now(), t.add(body.note))
    return await run(app, complaint_id, command, body, staff, meta, if_match, response, t)


@router.post("/complaints/{complaint_id}/escalate", response_model=ComplaintView)
async def escalate(
    complaint_id: UUID,
    body: EscalateBody,
    app: App,
    staff: Annotated[Principal, Depends(requires_on("complaint.escalate", complaint_branch))],
    meta: Meta,
    response: Response,
    if_match: IfMatch = None,
) -> ComplaintView:
    """Hand the case up one level (lobby manager → branch head → HQ department); never down."""
    t = app.texts.batch()
    command = d.Escalate(app.clock.now(), t.require(body.reason), body.to_level)
    return await run(app, complaint_id, command, body, staff, meta, if_match, response, t)


@router.post("/complaints/{complaint_id}/merge", response_model=ComplaintView)
async def merge(
    complaint_id: UUID,
    body: MergeBody,
    app: App,
    staff: Annotated[Principal, Depends(requires_on("complaint.merge", complaint_branch))],
    meta: Meta,
    response: Response,
    if_match: IfMatch = None,
) -> ComplaintView:
    """Merge into an incident: many complaints, one cause (e.g. a system outage)."""
    t = app.texts.batch()
    command = d.MergeIntoIncident(app.clock.now(), body.incident_id or uuid4(), t.require(body.cause))
    return await run(app, complaint_id, command, body, staff, meta, if_match, response, t)


@router.post("/complaints/{complaint_id}/customer-left", response_model=ComplaintView)
async def customer_left(
    complaint_id: UUID,
    app: App,
    staff: Annotated[Principal, Depends(requires_on("complaint.customer_left", complaint_branch))],
    meta: Meta,
    response: Response,
    if_match: IfMatch = None,
    body: Body | None = None,
) -> ComplaintView:
    """The in-branch complainant left: the 24 h resolve deadline starts now."""
    return await run(
        app, complaint_id, d.RecordCustomerLeft(app.clock.now()), body, staff, meta, if_match, response
    )


@router.post("/complaints/{complaint_id}/progress-update", response_model=ComplaintView)
async def progress_update(
    complaint_id: UUID,
    body: ProgressBody,
    app: App,
    staff: Annotated[Principal, Depends(requires_on("complaint.progress_update", complaint_branch))],
    meta: Meta,
    response: Response,
    if_match: IfMatch = None,
) -> ComplaintView:
    """The complainant was told where the case stands (due every 24 h while open)."""
    t = app.texts.batch()
    command = d.GiveProgressUpdate(app.clock.now(), t.require(body.note))
    return await run(app, complaint_id, command, body, staff, meta, if_match, response, t)


@router.post("/complaints/{complaint_id}/extend", response_model=ComplaintView)
async def extend(
    complaint_id: UUID,
    body: ReasonBody,
    app: App,
    staff: Annotated[Principal, Depends(requires_on("complaint.extension.request", complaint_branch))],
    meta: Meta,
    response: Response,
    if_match: IfMatch = None,
) -> ComplaintView:
    """Extend the regulatory limit once (15 → 30 days) for a complex case, with a reason."""
    t = app.texts.batch()
    command = d.ExtendRegulatoryDeadline(app.clock.now(), t.require(body.reason))
    return await run(app, complaint_id, command, body, staff, meta, if_match, response, t)


# regulatory profiles (issue 8) ----------------------------------------------------------------


@router.post("/complaints/{complaint_id}/assign", response_model=ComplaintView)
async def assign(
    complaint_id: UUID,
    body: AssignBody,
    app: App,
    staff: Annotated[Principal, Depends(requires_on("complaint.assign", complaint_branch))],
    meta: Meta,
    response: Response,
    if_match: IfMatch = None,
) -> ComplaintView:
    """Assign the handler; never the member of staff the complaint is about (recusal, 409)."""
    command = d.AssignHandler(app.clock.now(), body.handler)
    return await run(app, complaint_id, command, body, staff, meta, if_match, response)


@router.post("/complaints/{complaint_id}/identify-staff", response_model=ComplaintView)
async def identify_staff(
    complaint_id: UUID,
    body: StaffBody,
    app: App,
    staff: Annotated[Principal, Depends(requires_on("complaint.identify_staff", complaint_branch))],
    meta: Meta,
    response: Response,
    if_match: IfMatch = None,
) -> ComplaintView:
    """Record the members of staff the complaint is about (they may not handle it)."""
    command = d.IdentifyStaff(app.clock.now(), tuple(body.staff_ids))
    return await run(app, complaint_id, command, body, staff, meta, if_match, response)


@router.post("/complaints/{complaint_id}/new-material", response_model=ComplaintView)
async def new_material(
    complaint_id: UUID,
    body: MaterialBody,
    app: App,
    staff: Annotated[Principal, Depends(requires_on("complaint.add_material", complaint_branch))],
    meta: Meta,
    response: Response,
    if_match: IfMatch = None,
) -> ComplaintView:
    """New facts or reasons from the complainant (cn-2020: the decision clock restarts today)."""
    t = app.texts.batch()
    command = d.RecordNewMaterial(app.clock.now(), t.require(body.summary))
    return await run(app, complaint_id, command, body, staff, meta, if_match, response, t)


@router.post("/complaints/{complaint_id}/request-extension", response_model=ComplaintView)
async def request_extension(
    complaint_id: UUID,
    body: ReasonBody,
    app: App,
    staff: Annotated[Principal, Depends(requires_on("complaint.extension.request", complaint_branch))],
    meta: Meta,
    response: Response,
    if_match: IfMatch = None,
) -> ComplaintView:
    """Ask higher-level management for a further extension (cn-2020: to 60 days in total)."""
    t = app.texts.batch()
    command = d.RequestExtension(app.clock.now(), t.require(body.reason), meta.actor, uuid4())
    return await run(app, complaint_id, command, body, staff, meta, if_match, response, t)


@router.post("/complaints/{complaint_id}/approve-extension", response_model=ComplaintView)
async def approve_extension(
    complaint_id: UUID,
    app: App,
    staff: Annotated[Principal, Depends(requires_on("complaint.extension.approve", complaint_branch))],
    meta: Meta,
    response: Response,
    if_match: IfMatch = None,
    body: DecisionNoteBody | None = None,
) -> ComplaintView:
    """Approve the pending request; the requester cannot approve their own (409)."""
    body = body or DecisionNoteBody()
    t = app.texts.batch()
    command = d.DecideExtension(app.clock.now(), True, meta.actor, t.add(body.note))
    return await run(app, complaint_id, command, body, staff, meta, if_match, response, t)


@router.post("/complaints/{complaint_id}/deny-extension", response_model=ComplaintView)
async def deny_extension(
    complaint_id: UUID,
    body: ReasonBody,
    app: App,
    staff: Annotated[Principal, Depends(requires_on("complaint.extension.approve", complaint_branch))],
    meta: Meta,
    response: Response,
    if_match: IfMatch = None,
) -> ComplaintView:
    """Deny the pending request, with a reason: the earlier limit stands."""
    t = app.texts.batch()
    command = d.DecideExtension(app.clock.now(), False, meta.actor, t.require(body.reason))
    return await run(app, complaint_id, command, body, staff, meta, if_match, response, t)


@router.post("/complaints/{complaint_id}/interim-response", response_model=ComplaintView)
async def interim_response(
    complaint_id: UUID,
    body: InterimBody,
    app: App,
    staff: Annotated[Principal, Depends(requires_on("complaint.interim_response", complaint_branch))],
    meta: Meta,
    response: Response,
    if_match: IfMatch = None,
) -> ComplaintView:
    """uk-fca holding response (payment services: moves the final response to business day 35);
    us-cfpb "in progress" response within 15 days."""
    t = app.texts.batch()
    command = d.SendInterimResponse(
        app.clock.now(), body.kind, t.require(body.note), body.refers_to_ombudsman
    )
    return await run(app, complaint_id, command, body, staff, meta, if_match, response, t)


@router.post("/complaints/{complaint_id}/request-review", response_model=ComplaintView)
async def request_review(
    complaint_id: UUID,
    body: ReasonBody,
    app: App,
    staff: Annotated[Principal, Depends(requires_on("complaint.review.request", complaint_branch))],
    meta: Meta,
    response: Response,
    if_match: IfMatch = None,
) -> ComplaintView:
    """The complainant asks the higher level to review the decision (cn-2020: within 30 days)."""
    t = app.texts.batch()
    command = d.RequestReview(app.clock.now(), t.require(body.reason))
    return await run(app, complaint_id, command, body, staff, meta, if_match, response, t)


@router.post("/complaints/{complaint_id}/decide-review", response_model=ComplaintView)
async def decide_review(
    complaint_id: UUID,
    body: ReviewDecisionBody,
    app: App,
    staff: Annotated[Principal, Depends(requires_on("complaint.review.decide", complaint_branch))],
    meta: Meta,
    response: Response,
    if_match: IfMatch = None,
) -> ComplaintView:
    """The higher level's review decision, told to the complainant."""
    t = app.texts.batch()
    command = d.DecideReview(app.clock.now(), body.outcome, t.require(body.decision))
    return await run(app, complaint_id, command, body, staff, meta, if_match, response, t)


@router.get("/complaints/{complaint_id}/deadlines/explain")
async def explain_deadlines(
    complaint_id: UUID,
    app: App,
    staff: Annotated[Principal, Depends(requires_on("complaint.read", complaint_branch))],
) -> dict[str, Any]:
    """Which rule set each deadline and why: profile, rule text and citation, start and basis,
    limit and how it counts, the calendar, pauses and extensions — replayed from the case's
    history and set beside the live deadline (``agrees``)."""
    loaded = await app.get(complaint_id)
    staff.check_branch(loaded.history[0].branch_id)
    deadlines = await app.deadlines_of(complaint_id)
    return explain(str(complaint_id), loaded.state, deadlines, app.regulation, app.clock.now())
