"""Complaint HTTP routes: the case, the branch's board, incidents and the receipt of a complaint.

Every command answers 200 with the case's new state (and its version as ``ETag``), 409 with the
reason when it is not allowed now (or when ``If-Match`` / ``expected_version`` is stale), 404 for
an unknown case and 422 for bad input: unknown fields, over-long texts and bad values are refused.
The actor is the request's identity (``shared.auth.actor_metadata``: the bearer token's staff
id), never a body field. The lifecycle commands are declared in :mod:`command_routes` (one line
each, through :class:`shared.command_routes.CommandRoutes`); bodies are in :mod:`bodies`, the
views in :mod:`views`.

Every route declares its action (``shared.auth.requires``; the table is in ``shared/SECURITY.md``).
Commands on a case pass ``staff.check_branch`` to the command handler: the case's branch is checked
after loading and before anything is decided (403, nothing recorded). Reads by id check it before
answering; an incident shows only the cases of the branches the reader may see.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response

from services.complaint import domain as d
from services.complaint import projections
from services.complaint.app import ComplaintApp, app_for
from services.complaint.bodies import ReceiveComplaintBody
from services.complaint.case_read import CaseRead
from services.complaint.decider.steps import allowed_steps
from services.complaint.explain import explain
from services.complaint.views import (
    Board,
    ComplaintCreated,
    ComplaintView,
    Incident,
    board_item,
    case_texts,
    deadline_views,
    view,
)
from shared.audit import annotate
from shared.auth import Principal, is_allowed, requires, requires_on
from shared.auth.dependencies import actor_metadata
from shared.command_routes import CommandCall, Ran, ViewAnswer
from shared.commands import CommandResult, Loaded
from shared.decider import NotFound
from shared.envelope import Envelope
from shared.http import BranchIdPath
from shared.idempotency import AlreadyCreated, Create, IdempotencyKey, replay
from shared.runner import ServiceContext
from shared.sla.deadlines import Deadline, by_due_time
from shared.texts import TextReader, may_read_texts, refs_in

router = APIRouter(tags=["complaints"])


# ------------------------------------------------------------------------------- plumbing


async def complaint_app(request: Request) -> ComplaintApp:
    """``async``: a plain ``def`` dependency would hop to a worker thread on every request. The
    context is read off the app, not through the runner's ``context`` dependency: a node fewer for
    FastAPI to solve on every request (three on a command on a case, which reaches it thrice)."""
    ctx: ServiceContext = request.app.state.ctx
    return app_for(ctx)


App = Annotated[ComplaintApp, Depends(complaint_app)]
#: ``X-Correlation-Id``: the command's metadata is made from it and the principal in the route
CorrelationId = Annotated[str | None, Header()]
_ANSWER = ViewAnswer(ComplaintCreated)


async def complaint_stream(complaint_id: UUID, request: Request) -> Loaded[d.Complaint]:
    """The case's stream, loaded once per request (FastAPI keeps a dependency's value for the
    request): its branch is checked before the route runs and a command starts from it. The app
    is read off the request, not through ``complaint_app``: a sub-dependency fewer to solve."""
    return await app_for(request.app.state.ctx).cases.stream(complaint_id)


async def complaint_branch(
    stream: Annotated[Loaded[d.Complaint], Depends(complaint_stream)],
) -> str | None:
    """The case's branch, checked before a route on it runs (``requires_on``): staff of another
    branch get 403 whatever body they send."""
    return stream.branch_id


async def reader_for(
    app: ComplaintApp,
    state: d.Complaint,
    staff: Principal,
    branch_id: str,
    history: list[Envelope] | None = None,
    loaded: Loaded[d.Complaint] | None = None,
) -> TextReader:
    """The texts of the case's view; ``loaded``: the route's load of the case, whose texts
    (``case_read``) are shown without reading them again when they are all there."""
    refs = case_texts(state) + [r for e in history or () for r in refs_in(e.data)]
    may_read = may_read_texts(staff, branch_id)
    if not may_read or all(r is None for r in refs):  # nothing to resolve: no pool checkout
        return TextReader(app.texts.context, {}, may_read)
    if loaded is not None and isinstance(loaded.locked, CaseRead):
        found = loaded.locked.texts.stored(app.texts, refs, loaded.text_keys)
        if found is not None:
            return TextReader(app.texts.context, found, may_read)
    async with app.pool.acquire() as conn:
        return await app.texts.reader(conn, refs, may_read=may_read)


async def run_command(app: ComplaintApp, call: CommandCall) -> Ran:
    """One lifecycle command on a case (``shared.command_routes``): execute, then the case's view."""
    result: CommandResult[d.Complaint] = await app.execute(
        call.resource_id,
        call.command,
        meta=call.meta,
        expected_version=call.expected_version,
        check_branch=call.staff.check_branch,
        texts=call.texts,
        preloaded=call.preloaded,
    )
    # the deadlines the command's transaction left (a refused-as-no-op command wrote none: read)
    deadlines = result.written if result.events else await app.deadlines_of(call.resource_id)
    branch = result.events[0].branch_id if result.events else (call.preloaded.branch_id or "")
    reader = await reader_for(app, result.state, call.staff, branch, loaded=call.preloaded)
    shown = view(
        call.resource_id,
        result.state,
        result.version,
        branch,
        deadlines,
        app.clock.now(),
        app.rules,
        reader,
        steps=allowed_steps(app.refusal, result.state, app.clock.now()),
    )
    return Ran(view=shown, version=result.version)


# --------------------------------------------------------------------------------- routes


@router.post(
    "/branches/{branch_id}/complaints",
    status_code=201,
    response_model=ComplaintCreated,
    responses={200: {"description": "merged into the open case (cn-2020), or a replay of a merge"}},
)
async def receive_complaint(
    branch_id: BranchIdPath,
    body: ReceiveComplaintBody,
    staff: Annotated[Principal, Depends(requires("complaint.create"))],
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    x_correlation_id: CorrelationId = None,
) -> Response:
    """Record a complaint: who (customer reference), channel, what happened, optional visit.

    Under a profile that merges repeats (cn-2020), the same complainant raising the same matter
    while a case about it is open is recorded on that case: 200 with ``merged: true``. With an
    ``Idempotency-Key`` a retry answers the case the first request opened (or merged into)."""
    # the metadata from the principal and the header, not a dependency node of its own (as the
    # shared command routes do: ``shared.command_routes``); the header is declared last, where the
    # dependency's came in the flattened parameters, so the OpenAPI document is the same
    meta = actor_metadata(staff, x_correlation_id)
    app = app_for(request.app.state.ctx)  # not a dependency node either
    create = Create.of(request, idempotency_key, scope=branch_id, body=body)
    texts = app.texts.batch()
    try:
        # the body's fields by name; its text through the batch, its lists as tuples
        said = body.model_dump(exclude={"description", "about_staff", "representatives"})
        people: dict[str, Any] = {
            "about_staff": tuple(body.about_staff),
            "representatives": tuple(body.representatives),
        }
        result, merged = await app.receive(
            branch_id,
            **said,
            **people,
            description=texts.require(body.description),
            texts=texts,
            meta=meta,
            check_branch=staff.check_branch,
            create=create,
        )
    except AlreadyCreated as done:
        replay(response, done)
        complaint_id = UUID(done.resource_id)
        loaded = await app.get(complaint_id)
        deadlines = await app.deadlines_of(complaint_id)
        return _created(app, request, response, complaint_id, loaded, deadlines, merged=done.status == 200)
    assert result.state.complaint_id is not None
    if merged:
        response.status_code = 200
    loaded = Loaded(result.state, result.version, [])
    # the deadlines as the transaction left them: no second read
    deadlines = result.written if result.events else await app.deadlines_of(result.state.complaint_id)
    return _created(app, request, response, result.state.complaint_id, loaded, deadlines, merged=merged)


def _created(
    app: ComplaintApp,
    request: Request,
    response: Response,
    complaint_id: UUID,
    loaded: Loaded[d.Complaint],
    deadlines: list[Deadline],
    *,
    merged: bool,
) -> Response:
    annotate(request, resource_id=str(complaint_id))
    response.headers["ETag"] = f'"{loaded.version}"'
    response.headers["Location"] = f"/complaints/{complaint_id}"
    created = ComplaintCreated(
        complaint_id=complaint_id,
        status=loaded.state.status.value,
        version=loaded.version,
        deadlines=deadline_views(deadlines, app.clock.now()),
        merged=merged,
        regulatory_profile=loaded.state.profile,
    )
    # serialized here, not validated again as the response model by FastAPI (same bytes)
    answer: Response = _ANSWER(created, response, 201)
    return answer


@router.get("/complaints/{complaint_id}", response_model=ComplaintView)
async def get_complaint(
    complaint_id: UUID,
    app: App,
    staff: Annotated[Principal, Depends(requires_on("complaint.read", complaint_branch))],
    response: Response,
    stream: Annotated[Loaded[d.Complaint], Depends(complaint_stream)],
) -> ComplaintView:
    """The case: its state, its history of events, its deadlines with the time remaining.

    Shown from the branch check's load (``complaint_stream``, once per request): the stream, the
    case's deadlines and its texts were read with it in one statement."""
    loaded = _existing(complaint_id, stream)
    branch = loaded.history[0].branch_id
    staff.check_branch(branch)
    response.headers["ETag"] = f'"{loaded.version}"'
    deadlines = await _deadlines(app, complaint_id, loaded)
    reader = await reader_for(app, loaded.state, staff, branch, loaded.history, loaded)
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
        steps=allowed_steps(app.refusal, loaded.state, app.clock.now()),
    )


def _existing(complaint_id: UUID, stream: Loaded[d.Complaint]) -> Loaded[d.Complaint]:
    if stream.version == 0:
        raise NotFound(f"complaint {complaint_id} does not exist")
    return stream


async def _deadlines(app: ComplaintApp, complaint_id: UUID, loaded: Loaded[d.Complaint]) -> list[Deadline]:
    """The case's deadlines as read with its stream (ordered as ``Deadlines.list_for`` orders
    them), else read now."""
    if isinstance(loaded.locked, CaseRead):
        return by_due_time(loaded.locked.deadlines)
    return await app.deadlines_of(complaint_id)


@router.get("/branches/{branch_id}/complaints", response_model=Board)
async def branch_board(
    branch_id: BranchIdPath,
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


@router.get("/complaints/{complaint_id}/deadlines/explain")
async def explain_deadlines(
    complaint_id: UUID,
    app: App,
    staff: Annotated[Principal, Depends(requires_on("complaint.read", complaint_branch))],
    stream: Annotated[Loaded[d.Complaint], Depends(complaint_stream)],
) -> dict[str, Any]:
    """Which rule set each deadline and why: profile, rule text and citation, start and basis,
    limit and how it counts, the calendar, pauses and extensions — replayed from the case's
    history and set beside the live deadline (``agrees``)."""
    loaded = _existing(complaint_id, stream)
    staff.check_branch(loaded.history[0].branch_id)
    deadlines = await _deadlines(app, complaint_id, loaded)
    return explain(str(complaint_id), loaded.state, deadlines, app.regulation, app.clock.now())
