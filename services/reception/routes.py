"""Reception HTTP routes: arrivals and calls received, reading a visit or call, call-next, the
lobby board, the branch's visit list, statistics and the catalogue.

Commands answer with the visit's (or call's) state and an ``ETag`` carrying its version. 404
unknown id, 409 not allowed now (the reason says why), 422 bad input (unknown fields are refused,
texts are bounded). The actor always comes from :func:`shared.http.command_metadata` (the bearer
token's staff id), never from the body. The commands are declared in :mod:`command_routes` (run
by the functions here); bodies are in :mod:`bodies`, views in :mod:`views`.

Every route declares its action (``shared.auth.requires``, table in ``shared/SECURITY.md``):
routes with ``{branch_id}`` in the path are checked there; reads by id check before answering.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import date, datetime
from typing import Annotated, Any, Literal, TypeVar
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError

from services.reception import components
from services.reception.app import Reception
from services.reception.bodies import CallBody
from services.reception.deps import App, BranchId, call_branch, visit_branch
from services.reception.projections import local_day
from services.reception.queries import day_stats, lobby
from services.reception.views import (
    CallCreated,
    CallView,
    VisitCreated,
    VisitView,
    call_result,
    call_view,
    visit_result,
    visit_view,
)
from services.reception.visit_list import BadCursor, VisitPage, list_visits
from shared.auth import Principal, requires, requires_on
from shared.auth.dependencies import actor_metadata
from shared.command_routes import CommandCall, CreateCall, Ran, ViewAnswer
from shared.commands import Loaded
from shared.contracts.reception import CounterId, LineName
from shared.idempotency import AlreadyCreated, claim_first
from shared.texts import may_read_texts

router = APIRouter()
S = TypeVar("S")
_VISIT_ANSWER = ViewAnswer(VisitView)


# ------------------------------------------------ running a declared command (command_routes)


async def run_step(app: Reception, call: CommandCall) -> Ran:
    """A visit step; a keyed step (a ticket, a complaint) claims its key in the step's
    transaction, and a retry answers the visit as it is now."""
    command = call.command
    if call.create is not None and call.create.keyed:
        command = claim_first(call.create, command, resource_id=str(call.resource_id), status=200)
    try:
        result = await app.visit(call.resource_id, command, **_guarded(call))
    except AlreadyCreated as done:
        loaded = await app.load_visit(call.resource_id)
        view = visit_view(call.resource_id, loaded.history[0].branch_id, loaded.state, loaded.version)
        return Ran(view=view, version=loaded.version, replayed=done)
    return Ran(view=visit_result(call.resource_id, result), version=result.version)


def _guarded(call: CommandCall) -> dict[str, Any]:
    """How a step on an existing stream runs: with the request's metadata, the version the client
    read, the branch check of the acting staff and the command's text batch."""
    return {
        "meta": call.meta,
        "expected_version": call.expected_version,
        "check_branch": call.staff.check_branch,
        "texts": call.texts,
    }


async def run_call(app: Reception, call: CommandCall) -> Ran:
    """A call step (``shared.command_routes``)."""
    result = await app.call_command(call.resource_id, call.command, **_guarded(call))
    return Ran(view=call_result(call.resource_id, result), version=result.version)


async def arrive(app: Reception, call: CreateCall) -> Ran:
    """A new visit; a retry with the same key answers the first (as it is now)."""
    try:
        result = await app.arrive(
            call.branch_id, call.command, meta=call.meta, texts=call.texts, create=call.create
        )
        state, version, replayed = result.state, result.version, None
    except AlreadyCreated as done:
        loaded = await app.load_visit(UUID(done.resource_id))
        state, version, replayed = loaded.state, loaded.version, done
    assert state.visit_id is not None
    view = VisitCreated(
        visit_id=state.visit_id, ticket=state.ticket, status=state.status, line=state.line, version=version
    )
    return Ran(view=view, version=version, replayed=replayed, resource_id=state.visit_id)


async def receive_call(app: Reception, call: CreateCall) -> Ran:
    """A new call; a retry with the same key answers the first."""
    try:
        result = await app.receive_call(call.branch_id, call.command, meta=call.meta, create=call.create)
        state, version, replayed = result.state, result.version, None
    except AlreadyCreated as done:
        loaded = await app.load_call(UUID(done.resource_id))
        state, version, replayed = loaded.state, loaded.version, done
    assert state.call_id is not None
    view = CallCreated(call_id=state.call_id, status=state.status, version=version)
    return Ran(view=view, version=version, replayed=replayed, resource_id=state.call_id)


async def _read(load: Awaitable[Loaded[S]], staff: Principal, response: Response) -> tuple[Loaded[S], str]:
    """A visit or call by id, for a reader of its branch (checked again on what was loaded), with its
    version as ``ETag``."""
    loaded = await load
    branch = loaded.history[0].branch_id
    staff.check_branch(branch)
    response.headers["ETag"] = f'"{loaded.version}"'
    return loaded, branch


# ---------------------------------------------------------------------------------- visits

#: who may read a visit / a call: a reader of its branch (checked before it is loaded)
VisitReader = Annotated[Principal, Depends(requires_on("reception.visit.read", visit_branch))]
CallReader = Annotated[Principal, Depends(requires_on("reception.call.read", call_branch))]


@router.get("/visits/{visit_id}", response_model=VisitView)
async def get_visit(visit_id: UUID, app: App, staff: VisitReader, response: Response) -> VisitView:
    loaded, branch = await _read(app.load_visit(visit_id), staff, response)
    async with app.pool.acquire() as conn:
        may_read = may_read_texts(staff, branch)
        texts = await app.texts.reader(conn, [loaded.state.need_notes], may_read=may_read)
    return visit_view(visit_id, branch, loaded.state, loaded.version, texts.view(loaded.state.need_notes))


@router.post("/branches/{branch_id}/lines/{line}/call-next", response_model=VisitView)
async def call_next(
    branch_id: BranchId,
    line: Annotated[LineName, Path()],
    body: CallBody,
    request: Request,
    staff: Annotated[Principal, Depends(requires("reception.visit.call"))],
    response: Response,
    x_correlation_id: Annotated[str | None, Header()] = None,
) -> Response:
    """Call the next waiting customer of a line: priority customers first, then ticket order."""
    # the app and the command's metadata made here, not by dependency nodes of their own (FastAPI
    # solves each on every request); the OpenAPI document is the same
    app = components.reception(request.app.state.ctx)
    meta = actor_metadata(staff, x_correlation_id)
    result = await app.call_next(
        branch_id,
        line,
        body.counter_id,
        body.staff_id or meta.actor,
        meta=meta,
        check_branch=staff.check_branch,
    )
    assert result.state.visit_id is not None
    response.headers["ETag"] = f'"{result.version}"'
    # serialized here, not validated again as the response model by FastAPI (same bytes)
    answer: Response = _VISIT_ANSWER(visit_result(result.state.visit_id, result), response, 200)
    return answer


# ----------------------------------------------------------------------------------- calls


@router.get("/calls/{call_id}", response_model=CallView)
async def get_call(call_id: UUID, app: App, staff: CallReader, response: Response) -> CallView:
    loaded, branch = await _read(app.load_call(call_id), staff, response)
    return call_view(call_id, branch, loaded.state, loaded.version)


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
