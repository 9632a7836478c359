"""Reception HTTP routes: visits, queue, counters, phone calls, the lobby board and statistics.

Commands answer 200 with the visit's (or call's) state and an ``ETag`` carrying its version;
``If-Match`` makes a command conditional. 404 unknown id, 409 not allowed now (the reason says
why), 422 bad input (unknown fields are refused, texts are bounded). The actor always comes from
:func:`shared.http.command_metadata` (the bearer token's staff id), never from the body.

Every route declares its action (``shared.auth.requires``, table in ``shared/SECURITY.md``):
routes with ``{branch_id}`` in the path are checked there; commands on a visit or call by id pass
``staff.check_branch`` to the command handler, which checks the stream's branch after loading and
before anything is decided (403, nothing changed); reads by id check before answering.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.reception import components
from services.reception import domain as v
from services.reception import phone as p
from services.reception.app import CallStep, Reception, VisitStep
from services.reception.counter_api import router as counter_router
from services.reception.projections import local_day
from services.reception.queries import day_stats, lobby
from services.reception.vault_api import internal_router as vault_internal_router
from services.reception.vault_api import router as vault_router
from services.reception.vault_maintenance_api import router as vault_maintenance_router
from services.reception.visit_list import BadCursor, VisitPage, list_visits
from shared.audit import annotate
from shared.auth import Principal, requires, requires_on
from shared.command_routes import CommandCall, CommandRoutes, Given, Ran
from shared.commands import CommandResult, PendingTexts
from shared.contracts.common import CustomerRef, MaskedName, MaskedPhone, Note, StaffId
from shared.contracts.reception import (
    Accessibility,
    CallOutcome,
    CounterId,
    LineName,
    MaterialCode,
    Priority,
    ServiceType,
)
from shared.contracts.text import FreeText, TextRules
from shared.envelope import Metadata
from shared.http import command_metadata, expected_version
from shared.idempotency import AlreadyCreated, Create, IdempotencyKey, claim_first, replay
from shared.runner import ServiceContext, context
from shared.texts import TextView, may_read_texts, texts_router

router = APIRouter(tags=["reception"])

BranchId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_\-]{1,64}$")]
Description = FreeText
Outcome = Annotated[str, TextRules(2000, min_length=1)]
RoutedTo = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]


def reception(ctx: Annotated[ServiceContext, Depends(context)]) -> Reception:
    return components.reception(ctx)


App = Annotated[Reception, Depends(reception)]
Meta = Annotated[Metadata, Depends(command_metadata)]
IfMatch = Annotated[str | None, Header(description='Version you read, e.g. "3": 409 if it moved on')]


async def visit_branch(visit_id: UUID, app: App) -> str | None:
    """The visit's branch, checked before a route on it runs (``requires_on``)."""
    return await app.visits.handler.branch_of(v.stream_id(visit_id))


async def call_branch(call_id: UUID, app: App) -> str | None:
    """The call's branch, checked before a route on it runs (``requires_on``)."""
    return await app.calls.handler.branch_of(p.stream_id(call_id))


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------------------------- bodies


class ArriveBody(_Body):
    arrival: Literal["walk_in", "appointment"] = "walk_in"
    returning: bool = False
    customer_ref: CustomerRef | None = None
    display_name: MaskedName | None = None
    relationship_manager: StaffId | None = None
    priority: Priority | None = None
    accessibility: list[Accessibility] = Field(default_factory=list, max_length=4)
    #: ticket-machine / appointment fast path: confirm this need and issue a ticket at once
    service_type: ServiceType | None = None
    notes: Note = ""

    @model_validator(mode="after")
    def _consistent(self) -> ArriveBody:
        if self.relationship_manager and not self.returning:
            raise ValueError("only a returning customer can have a relationship manager")
        if self.notes and self.service_type is None:
            raise ValueError("notes describe the need: give service_type too")
        return self


class GreetBody(_Body):
    customer_ref: CustomerRef | None = None
    priority: Priority | None = None
    accessibility: list[Accessibility] = Field(default_factory=list, max_length=4)


class ConfirmNeedBody(_Body):
    service_type: ServiceType
    notes: Note = ""

    @model_validator(mode="after")
    def _complaint_described(self) -> ConfirmNeedBody:
        if self.service_type is ServiceType.complaint and not self.notes.strip():
            raise ValueError("a complaint needs a description in notes")
        return self


class GuideBody(_Body):
    notes: Note = ""


class CheckDocumentsBody(_Body):
    #: the required materials the customer does not have; empty = complete
    missing: list[MaterialCode] = Field(default_factory=list, max_length=30)


class LeaveBody(_Body):
    #: the customer steps out to fetch missing documents and will come back (same visit)
    to_fetch_documents: bool = False


class CallBody(_Body):
    counter_id: CounterId
    #: the member of staff at the counter; defaults to the acting staff member
    staff_id: StaffId | None = None


class ServeBody(_Body):
    outcome: Outcome
    next_steps: Note = ""
    promised_by: datetime | None = None

    @model_validator(mode="after")
    def _aware(self) -> ServeBody:
        if self.promised_by is not None and self.promised_by.tzinfo is None:
            raise ValueError("promised_by needs a timezone, e.g. 2026-03-02T10:00:00+08:00")
        return self


class ComplaintBody(_Body):
    description: Description
    customer_ref: CustomerRef | None = None


class ReceiveCallBody(_Body):
    customer_ref: CustomerRef | None = None
    masked_number: MaskedPhone | None = None


class AnswerBody(_Body):
    rings: int = Field(ge=0, le=100)
    seconds_to_answer: float | None = Field(default=None, ge=0, le=3600)
    staff_id: StaffId | None = None


class PurposeBody(_Body):
    purpose: ServiceType
    notes: Note = ""


class RouteBody(_Body):
    routed_to: RoutedTo
    notes: Note = ""


class ResolveBody(_Body):
    notes: Note = ""


class EndCallBody(_Body):
    purpose: ServiceType | None = None
    outcome: CallOutcome | None = None
    routed_to: RoutedTo | None = None
    notes: Note = ""

    @model_validator(mode="after")
    def _routed_has_target(self) -> EndCallBody:
        if self.outcome is CallOutcome.routed and not self.routed_to:
            raise ValueError("a routed call needs routed_to")
        if self.routed_to and self.outcome is not CallOutcome.routed:
            raise ValueError("routed_to is only for outcome 'routed'")
        return self


# ------------------------------------------------------------------------------- responses


class VisitCreated(BaseModel):
    visit_id: UUID
    ticket: str | None
    status: str
    line: str | None
    version: int


class VisitView(BaseModel):
    visit_id: UUID
    branch_id: str
    status: str
    version: int
    arrival: str | None
    returning: bool
    customer_ref: str | None
    display_name: str | None
    relationship_manager: str | None
    priority: str | None
    accessibility: list[str]
    service_type: str | None
    line: str | None
    required_materials: list[str]
    missing: list[str]
    document_checks: int
    ticket: str | None
    queued_at: datetime | None
    calls: int
    counter_id: str | None
    staff_id: str | None
    waited_seconds: float | None
    served_at: datetime | None
    left_reason: str | None
    wait_sla: str | None
    complaints: int
    #: the notes of the confirmed need (reception's text; shown to staff of the branch)
    need_notes: TextView | None = None


class CallCreated(BaseModel):
    call_id: UUID
    status: str
    version: int


class CallView(BaseModel):
    call_id: UUID
    branch_id: str
    status: str
    version: int
    received_at: datetime | None
    answered_at: datetime | None
    rings: int | None
    seconds_to_answer: float | None
    within_target: bool | None
    purpose: str | None
    routed_to: str | None
    outcome: str | None
    answer_sla: str | None


def _visit_view(
    visit_id: UUID, branch_id: str, state: v.Visit, version: int, need_notes: TextView | None = None
) -> VisitView:
    return VisitView(
        visit_id=visit_id,
        branch_id=branch_id,
        status=state.status.value,
        version=version,
        arrival=state.arrival,
        returning=state.returning,
        customer_ref=state.customer_ref,
        display_name=state.display_name,
        relationship_manager=state.relationship_manager,
        priority=state.priority,
        accessibility=[a.value for a in state.accessibility],
        service_type=state.service_type,
        line=state.line,
        required_materials=list(state.required_materials),
        missing=list(state.missing),
        document_checks=state.document_checks,
        ticket=state.ticket,
        queued_at=state.queued_at,
        calls=state.calls,
        counter_id=state.counter_id,
        staff_id=state.staff_id,
        waited_seconds=state.waited_seconds,
        served_at=state.served_at,
        left_reason=state.left_reason,
        wait_sla=state.sla_status,
        complaints=state.complaints,
        need_notes=need_notes,
    )


def _visit_result(visit_id: UUID, result: CommandResult[v.Visit], response: Response) -> VisitView:
    response.headers["ETag"] = f'"{result.version}"'
    branch = result.events[0].branch_id if result.events else ""
    return _visit_view(visit_id, branch, result.state, result.version)


def _call_view(call_id: UUID, branch_id: str, state: p.PhoneCall, version: int) -> CallView:
    return CallView(
        call_id=call_id,
        branch_id=branch_id,
        status=state.status.value,
        version=version,
        received_at=state.received_at,
        answered_at=state.answered_at,
        rings=state.rings,
        seconds_to_answer=state.seconds_to_answer,
        within_target=state.within_target,
        purpose=state.purpose,
        routed_to=state.routed_to,
        outcome=state.outcome,
        answer_sla=state.sla_status,
    )


# ---------------------------------------------------------------------------------- visits


@router.post("/branches/{branch_id}/visits", status_code=201, response_model=VisitCreated)
async def arrive(
    branch_id: BranchId,
    body: ArriveBody,
    app: App,
    staff: Annotated[Principal, Depends(requires("reception.visit.create"))],
    meta: Meta,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> VisitCreated:
    """A customer walks in (or arrives for an appointment). With ``service_type`` the need is
    confirmed and a ticket issued at once; otherwise ``ticket`` is null until ``queue``. With an
    ``Idempotency-Key`` a retry answers the first visit (and its ticket) instead of a second."""
    create = Create.of(request, idempotency_key, scope=branch_id, body=body)
    texts = app.texts.batch()
    try:
        result = await app.arrive(
            branch_id,
            meta=meta,
            arrival=body.arrival,
            returning=body.returning,
            customer_ref=body.customer_ref,
            display_name=body.display_name,
            relationship_manager=body.relationship_manager,
            priority=body.priority,
            accessibility=body.accessibility,
            service_type=body.service_type,
            notes=texts.add(body.notes),
            texts=texts,
            create=create,
        )
        state, version = result.state, result.version
    except AlreadyCreated as done:
        replay(response, done)
        loaded = await app.load_visit(UUID(done.resource_id))
        state, version = loaded.state, loaded.version
    assert state.visit_id is not None
    annotate(request, resource_id=str(state.visit_id))
    response.headers["ETag"] = f'"{version}"'
    response.headers["Location"] = f"/visits/{state.visit_id}"
    return VisitCreated(
        visit_id=state.visit_id, ticket=state.ticket, status=state.status, line=state.line, version=version
    )


@router.get("/visits/{visit_id}", response_model=VisitView)
async def get_visit(
    visit_id: UUID,
    app: App,
    staff: Annotated[Principal, Depends(requires_on("reception.visit.read", visit_branch))],
    response: Response,
) -> VisitView:
    loaded = await app.load_visit(visit_id)
    branch = loaded.history[0].branch_id
    staff.check_branch(branch)
    response.headers["ETag"] = f'"{loaded.version}"'
    async with app.pool.acquire() as conn:
        may_read = may_read_texts(staff, branch)
        texts = await app.texts.reader(conn, [loaded.state.need_notes], may_read=may_read)
    return _visit_view(visit_id, branch, loaded.state, loaded.version, texts.view(loaded.state.need_notes))


async def _run(
    app: Reception,
    visit_id: UUID,
    command: VisitStep,
    staff: Principal,
    meta: Metadata,
    if_match: str | None,
    response: Response,
    create: Create | None = None,
    texts: PendingTexts | None = None,
) -> VisitView:
    """Run a visit step; with a keyed ``create`` (a step that creates: a ticket, a complaint) the
    key is claimed in the step's transaction and a retry answers the visit as it is now; ``texts``
    (the refs the step carries) are stored with its events."""
    if create is not None and create.keyed:
        command = claim_first(create, command, resource_id=str(visit_id), status=200)
    try:
        result = await app.visit(
            visit_id,
            command,
            meta=meta,
            expected_version=expected_version(if_match),
            check_branch=staff.check_branch,
            texts=texts,
        )
    except AlreadyCreated as done:
        replay(response, done)
        loaded = await app.load_visit(visit_id)
        response.headers["ETag"] = f'"{loaded.version}"'
        return _visit_view(visit_id, loaded.history[0].branch_id, loaded.state, loaded.version)
    return _visit_result(visit_id, result, response)


async def _run_step(app: Reception, call: CommandCall) -> Ran:
    """A visit step declared through ``shared.command_routes``; a keyed step (a ticket, a
    complaint) claims its key in the step's transaction, and a retry answers the visit as it is."""
    command = call.command
    if call.create is not None and call.create.keyed:
        command = claim_first(call.create, command, resource_id=str(call.resource_id), status=200)
    try:
        result = await app.visit(
            call.resource_id,
            command,
            meta=call.meta,
            expected_version=call.expected_version,
            check_branch=call.staff.check_branch,
            texts=call.texts,
        )
    except AlreadyCreated as done:
        loaded = await app.load_visit(call.resource_id)
        view = _visit_view(call.resource_id, loaded.history[0].branch_id, loaded.state, loaded.version)
        return Ran(view=view, version=loaded.version, replayed=done)
    branch = result.events[0].branch_id if result.events else ""
    return Ran(
        view=_visit_view(call.resource_id, branch, result.state, result.version), version=result.version
    )


# one declaration per visit step (shared.command_routes): path, action, body, the command by keyword;
# call (a counter and its staff) is written out below
steps: CommandRoutes[Reception] = CommandRoutes(
    router,
    resource="visit_id",
    app=reception,
    branch_of=visit_branch,
    run=_run_step,
    view=VisitView,
    now=lambda app: app.now(),
    text_batch=lambda app: app.texts.batch(),
    if_match='Version you read, e.g. "3": 409 if it moved on',
)


def _app(g: Given) -> Reception:
    """The reception app: some steps are built by it (they read the catalogue in the transaction)."""
    app: Reception = g.app
    return app


steps.post(
    "/visits/{visit_id}/greet",
    "reception.visit.greet",
    GreetBody,
    lambda body, g: v.Greet(
        at=g.now,
        customer_ref=body.customer_ref,
        priority=body.priority,
        accessibility=tuple(body.accessibility),
    ),
    name="greet",
    body_required=False,
)
steps.post(
    "/visits/{visit_id}/confirm-need",
    "reception.visit.confirm_need",
    ConfirmNeedBody,
    lambda body, g: _app(g).confirm_need(service_type=body.service_type, notes=g.texts.add(body.notes)),
    name="confirm_need",
)
steps.post(
    "/visits/{visit_id}/guide",
    "reception.visit.guide",
    GuideBody,
    lambda body, g: _app(g).guide(notes=g.texts.add(body.notes)),
    name="guide",
    body_required=False,
    doc="Tell the customer the materials their business needs (from the catalogue).",
)
steps.post(
    "/visits/{visit_id}/check-documents",
    "reception.visit.check_documents",
    CheckDocumentsBody,
    lambda body, g: v.CheckDocuments(missing=tuple(body.missing), at=g.now),
    name="check_documents",
)
steps.post(
    "/visits/{visit_id}/return",
    "reception.visit.return",
    None,
    lambda body, g: v.Return(at=g.now),
    name="return_",
    doc="The customer came back with the missing documents (same visit).",
)


steps.post(
    "/visits/{visit_id}/queue",
    "reception.visit.queue",
    None,
    lambda body, g: _app(g).queue(),
    name="queue",
    keyed=True,
    doc="Issue a ticket on the need's service line (with an ``Idempotency-Key``, a retry answers\n"
    "the visit with the ticket the first request issued).",
)


@router.post("/visits/{visit_id}/call", response_model=VisitView)
async def call(
    visit_id: UUID,
    body: CallBody,
    app: App,
    staff: Annotated[Principal, Depends(requires_on("reception.visit.call", visit_branch))],
    meta: Meta,
    response: Response,
    if_match: IfMatch = None,
) -> VisitView:
    """Call the ticket to a counter (again, up to three times)."""
    command = app.call(body.counter_id, body.staff_id or meta.actor, meta=meta)
    return await _run(app, visit_id, command, staff, meta, if_match, response)


@router.post("/branches/{branch_id}/lines/{line}/call-next", response_model=VisitView)
async def call_next(
    branch_id: BranchId,
    line: Annotated[LineName, Path()],
    body: CallBody,
    app: App,
    staff: Annotated[Principal, Depends(requires("reception.visit.call"))],
    meta: Meta,
    response: Response,
) -> VisitView:
    """Call the next waiting customer of a line: priority customers first, then ticket order."""
    result = await app.call_next(
        branch_id,
        line,
        body.counter_id,
        body.staff_id or meta.actor,
        meta=meta,
        check_branch=staff.check_branch,
    )
    assert result.state.visit_id is not None
    return _visit_result(result.state.visit_id, result, response)


steps.post(
    "/visits/{visit_id}/serve",
    "reception.visit.serve",
    ServeBody,
    lambda body, g: _app(g).serve(
        outcome=g.texts.add(body.outcome),
        next_steps=g.texts.add(body.next_steps),
        promised_by=body.promised_by,
    ),
    name="serve",
)
steps.post(
    "/visits/{visit_id}/leave",
    "reception.visit.leave",
    LeaveBody,
    lambda body, g: v.Leave(at=g.now, to_fetch_documents=body.to_fetch_documents),
    name="leave",
    body_required=False,
    doc="The customer leaves: after service, before a ticket, or (holding a ticket) abandoning the\n"
    "queue; with ``to_fetch_documents`` they step out and the visit stays open.",
)
steps.post(
    "/visits/{visit_id}/abandon",
    "reception.visit.abandon",
    None,
    lambda body, g: v.Abandon(at=g.now),
    name="abandon",
)
steps.post(
    "/visits/{visit_id}/no-show",
    "reception.visit.no_show",
    None,
    lambda body, g: v.MarkNoShow(at=g.now),
    name="no_show",
    doc="Called three times and never came to the counter.",
)


steps.post(
    "/visits/{visit_id}/raise-complaint",
    "reception.visit.raise_complaint",
    ComplaintBody,
    lambda body, g: v.RaiseComplaint(
        description=g.texts.require(body.description), at=g.now, customer_ref=body.customer_ref
    ),
    name="raise_complaint",
    keyed=True,
    doc="A complaint during the visit: the complaint service opens a case linked to it. With an\n"
    "``Idempotency-Key`` a retry raises no second complaint.",
)


# ----------------------------------------------------------------------------------- calls


@router.post("/branches/{branch_id}/calls", status_code=201, response_model=CallCreated)
async def receive_call(
    branch_id: BranchId,
    app: App,
    staff: Annotated[Principal, Depends(requires("reception.call.create"))],
    meta: Meta,
    request: Request,
    response: Response,
    body: ReceiveCallBody | None = None,
    idempotency_key: IdempotencyKey = None,
) -> CallCreated:
    """The phone rings (the answer SLA starts). With an ``Idempotency-Key`` a retry answers the
    first call."""
    body = body or ReceiveCallBody()
    create = Create.of(request, idempotency_key, scope=branch_id, body=body)
    try:
        result = await app.receive_call(
            branch_id,
            meta=meta,
            customer_ref=body.customer_ref,
            masked_number=body.masked_number,
            create=create,
        )
        state, version = result.state, result.version
    except AlreadyCreated as done:
        replay(response, done)
        loaded = await app.load_call(UUID(done.resource_id))
        state, version = loaded.state, loaded.version
    assert state.call_id is not None
    annotate(request, resource_id=str(state.call_id))
    response.headers["ETag"] = f'"{version}"'
    response.headers["Location"] = f"/calls/{state.call_id}"
    return CallCreated(call_id=state.call_id, status=state.status, version=version)


@router.get("/calls/{call_id}", response_model=CallView)
async def get_call(
    call_id: UUID,
    app: App,
    staff: Annotated[Principal, Depends(requires_on("reception.call.read", call_branch))],
    response: Response,
) -> CallView:
    loaded = await app.load_call(call_id)
    staff.check_branch(loaded.history[0].branch_id)
    response.headers["ETag"] = f'"{loaded.version}"'
    return _call_view(call_id, loaded.history[0].branch_id, loaded.state, loaded.version)


async def _run_call(app: Reception, call: CommandCall) -> Ran:
    result = await app.call_command(
        call.resource_id,
        call.command,
        meta=call.meta,
        expected_version=call.expected_version,
        check_branch=call.staff.check_branch,
        texts=call.texts,
    )
    branch = result.events[0].branch_id if result.events else ""
    return Ran(
        view=_call_view(call.resource_id, branch, result.state, result.version), version=result.version
    )


# one declaration per call command (shared.command_routes): path, action, body, the command by keyword
calls: CommandRoutes[Reception] = CommandRoutes(
    router,
    resource="call_id",
    app=reception,
    branch_of=call_branch,
    run=_run_call,
    view=CallView,
    now=lambda app: app.now(),
    text_batch=lambda app: app.texts.batch(),
    if_match='Version you read, e.g. "3": 409 if it moved on',
)


def _answer(body: AnswerBody, g: Given) -> CallStep:
    """The app builds it: the ring SLA's breach is read inside the command's transaction."""
    app: Reception = g.app
    return app.answer(
        staff_id=body.staff_id or g.actor, rings=body.rings, seconds_to_answer=body.seconds_to_answer
    )


calls.post("/calls/{call_id}/answer", "reception.call.answer", AnswerBody, _answer, name="answer_call")
calls.post(
    "/calls/{call_id}/purpose",
    "reception.call.handle",
    PurposeBody,
    lambda body, g: p.RecordPurpose(purpose=body.purpose, at=g.now, notes=g.texts.add(body.notes)),
    name="call_purpose",
)
calls.post(
    "/calls/{call_id}/route",
    "reception.call.handle",
    RouteBody,
    lambda body, g: p.RouteCall(routed_to=body.routed_to, at=g.now, notes=g.texts.add(body.notes)),
    name="route_call",
)
calls.post(
    "/calls/{call_id}/resolve",
    "reception.call.handle",
    ResolveBody,
    lambda body, g: p.ResolveCall(at=g.now, notes=g.texts.add(body.notes)),
    name="resolve_call",
    body_required=False,
)
calls.post(
    "/calls/{call_id}/end",
    "reception.call.end",
    EndCallBody,
    lambda body, g: p.EndCall(
        at=g.now,
        purpose=body.purpose,
        outcome=body.outcome,
        routed_to=body.routed_to,
        notes=g.texts.add(body.notes),
    ),
    name="end_call",
    body_required=False,
    doc="End the call; an unanswered call ends as missed. Purpose and outcome may be given here.",
)


# --------------------------------------------------------------------------------- queries


@router.get("/branches/{branch_id}/lobby")
async def lobby_board(
    branch_id: BranchId, app: App, staff: Annotated[Principal, Depends(requires("reception.lobby.read"))]
) -> dict[str, Any]:
    """The live board: who waits on which line (ticket, waited so far, SLA), counters busy or
    free, and the estimated wait per line from recent service times."""
    async with app.pool.acquire() as conn:
        return await lobby(conn, branch_id, app.now(), app.catalogue, app.book)


VisitStatus = Literal[
    "arrived", "greeted", "need_confirmed", "guided", "documents_incomplete", "away",
    "documents_complete", "queued", "called", "served", "left",
]  # fmt: skip


@router.get("/branches/{branch_id}/visits", response_model=VisitPage)
async def branch_visits(
    branch_id: BranchId,
    app: App,
    staff: Annotated[Principal, Depends(requires("reception.visit.list"))],
    status: Annotated[list[VisitStatus] | None, Query(description="any of these statuses")] = None,
    line: Annotated[LineName | None, Query()] = None,
    counter: Annotated[CounterId | None, Query(description="visits called to this counter")] = None,
    since: Annotated[datetime | None, Query(description="arrived at or after (timezone-aware)")] = None,
    day: Annotated[date | None, Query(alias="date", description="branch-local date; default today")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    after: Annotated[str | None, Query(max_length=200, description="next_cursor of a page")] = None,
) -> VisitPage:
    """The branch's visits, newest arrival first: every terminal of the branch sees the same list
    (the desk at the entrance, the counters, the branch head). The day's visits unless ``since``."""
    if since is not None and since.tzinfo is None:
        raise RequestValidationError(
            [{"loc": ("query", "since"), "msg": "since needs a timezone, e.g. 2026-03-02T09:00:00+08:00",
              "type": "value_error"}]
        )  # fmt: skip
    chosen = None if since is not None else (day or local_day(app.book, branch_id, app.now()))
    async with app.pool.acquire() as conn:
        try:
            return await list_visits(
                conn, branch_id, day=chosen, since=since, statuses=list(status or []), line=line,
                counter=counter, limit=limit, after=after,
            )  # fmt: skip
        except BadCursor as bad:
            raise RequestValidationError(
                [{"loc": ("query", "after"), "msg": str(bad), "type": "value_error"}]
            ) from None


@router.get("/branches/{branch_id}/visits/stats")
async def visit_stats(
    branch_id: BranchId,
    app: App,
    staff: Annotated[Principal, Depends(requires("reception.stats.read"))],
    day: Annotated[date | None, Query(alias="date", description="Branch-local date; default today")] = None,
) -> dict[str, Any]:
    """A day's visits by service type, average and p90 wait, abandonment, first-visit completion
    (documents complete at the first check) and phone answering."""
    chosen = day or local_day(app.book, branch_id, app.now())
    async with app.pool.acquire() as conn:
        return await day_stats(conn, branch_id, chosen, app.book)


@router.get("/catalogue")
async def catalogue(
    app: App, staff: Annotated[Principal, Depends(requires("reception.catalogue.read"))]
) -> dict[str, Any]:
    """Service lines, the materials each service type requires and the phone ring limit."""
    cat = app.catalogue
    return {
        "lines": [
            {
                "line": line.name,
                "prefix": line.prefix,
                "label": line.label,
                "service_types": [t.value for t in line.service_types],
                "relationship_manager": line.relationship_manager,
                "default_service_seconds": line.default_service_time.total_seconds(),
            }
            for line in cat.lines.values()
        ],
        "materials": dict(cat.materials),
        "requirements": {t.value: list(m) for t, m in cat.requirements.items()},
        "phone": {"max_rings": cat.max_rings},
    }


# ------------------------------------------------------------------- customer PII vault (issue 7)

router.include_router(counter_router)
router.include_router(vault_router)
router.include_router(vault_internal_router)
router.include_router(vault_maintenance_router)
router.include_router(texts_router())
