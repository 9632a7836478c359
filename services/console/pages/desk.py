"""The reception desk: register an arrival in one form, the queue, and one visit's next steps.

Registering runs the visit's real steps one after the other (arrive → greet → confirm need →
guide → check documents → queue), each with the version it follows, so the history shows what
happened at the desk; it stops at the first step the service refuses and shows why. The visits of
the day come from reception's ``GET /branches/{b}/visits`` and stay live like the lobby board
(``/b/{b}/desk/visits/stream``), so a visit registered at the entrance shows at every counter's
desk, and a browser restart loses nothing.
"""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sse_starlette import EventSourceResponse

from services.console.customers import TYPED, pick_customer
from services.console.errors import FormErrors
from services.console.i18n import Translator
from services.console.pages.counter import PAUSE_REASONS
from services.console.pages.counter import router as counter_router
from services.console.pages.forms import (
    Outcome,
    command,
    form_dict,
    form_key,
    local_datetime,
    optional,
    parse_bool,
)
from services.console.pages.lobby import board_panel, live_html
from services.console.session import Session, Staff, T
from services.console.web import Panel, fetch, render, templates

router = APIRouter()
router.include_router(counter_router)

COUNTER_COOKIE = "bc_counter"
#: the day's visits the desk lists (the busiest branch sees a few hundred a day; the newest first)
VISITS_SHOWN = 100
MAX_CALLS = 3

#: step on the visit page → (the action it performs, the reception route, fixed body fields)
VISIT_STEPS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "greet": ("reception.visit.greet", "greet", {}),
    "confirm-need": ("reception.visit.confirm_need", "confirm-need", {}),
    "guide": ("reception.visit.guide", "guide", {}),
    "check-documents": ("reception.visit.check_documents", "check-documents", {}),
    "leave-fetch": ("reception.visit.leave", "leave", {"to_fetch_documents": True}),
    "return": ("reception.visit.return", "return", {}),
    "queue": ("reception.visit.queue", "queue", {}),
    "call": ("reception.visit.call", "call", {}),
    "serve": ("reception.visit.serve", "serve", {}),
    "no-show": ("reception.visit.no_show", "no-show", {}),
    "abandon": ("reception.visit.abandon", "abandon", {}),
    "leave": ("reception.visit.leave", "leave", {}),
    "raise-complaint": ("reception.visit.raise_complaint", "raise-complaint", {}),
}
BEFORE_QUEUE = frozenset(
    {"arrived", "greeted", "need_confirmed", "guided", "documents_incomplete", "away", "documents_complete"}
)
REGISTER_FIELDS = (
    "service_type",
    "accessibility",
    "priority",
    "returning",
    "customer_name",
    "notes",
    "have",
)
#: steps of the visit page that create something: they carry the form's idempotency key
KEYED_STEPS = frozenset({"queue", "raise-complaint"})


def visit_steps(visit: dict[str, Any]) -> list[str]:
    """The steps a visit takes now (mirrors reception's decider; the service has the last word)."""
    s = visit.get("status")
    if s in (None, "none", "left"):
        return []
    required = bool(visit.get("required_materials"))
    calls = int(visit.get("calls") or 0)
    steps: list[str] = []
    if s == "arrived":
        steps.append("greet")
    if s == "greeted":
        steps.append("confirm-need")
    if s == "need_confirmed":
        steps.append("guide")
    if s in ("guided", "documents_incomplete") and required:
        steps.append("check-documents")
    if s == "documents_incomplete":
        steps.append("leave-fetch")
    if s == "away":
        steps.append("return")
    if s == "documents_complete" or (s == "guided" and not required):
        steps.append("queue")
    if s == "called":
        steps.append("serve")
    if s in ("queued", "called") and calls < MAX_CALLS:
        steps.append("call")
    if s == "called" and calls >= MAX_CALLS:
        steps.append("no-show")
    if s in ("queued", "called"):
        steps.append("abandon")
    if s in BEFORE_QUEUE or s == "served":
        steps.append("leave")
    steps.append("raise-complaint")
    return steps


async def visits_panel(request: Request, session: Session, t: Translator, branch_id: str) -> Panel:
    """The branch's visits of the day, open ones first (newest arrival first within each)."""
    panel = await fetch(
        request.app.state.backend, session, t, "reception", f"/branches/{branch_id}/visits",
        action="reception.visit.list", branch_id=branch_id, params={"limit": VISITS_SHOWN},
    )  # fmt: skip
    if panel.ok:
        items = panel.data.get("items", [])
        panel.data = [v for v in items if v.get("stage") != "left"] + [
            v for v in items if v.get("stage") == "left"
        ]
    return panel


def render_visits(request: Request, t: Translator, branch_id: str, panel: Panel) -> str:
    clocks = request.app.state.clocks
    return templates.get_template("_desk_visits.html").render(
        t=t,
        visits=panel.data if panel.ok else [],
        problem=panel.problem,
        branch_id=branch_id,
        local=lambda v, fmt="%H:%M:%S": clocks.local(v, branch_id, fmt, t.lang),
    )


async def _catalogue(request: Request, session: Session, t: Translator) -> Panel:
    return await fetch(
        request.app.state.backend, session, t, "reception", "/catalogue", action="reception.catalogue.read"
    )


def _service_types(catalogue: dict[str, Any] | None) -> list[str]:
    if not catalogue:
        return []
    seen: list[str] = []
    for line in catalogue.get("lines", []):
        for st in line.get("service_types", []):
            if st not in seen:
                seen.append(st)
    for st in catalogue.get("requirements", {}):
        if st not in seen:
            seen.append(st)
    return seen


async def _visit(request: Request, session: Session, t: Translator, visit_id: str) -> Panel:
    return await fetch(
        request.app.state.backend,
        session,
        t,
        "reception",
        f"/visits/{visit_id}",
        action="reception.visit.read",
    )


async def desk_view(
    request: Request,
    session: Session,
    t: Translator,
    branch_id: str,
    *,
    errors: FormErrors | None = None,
    form: dict[str, Any] | None = None,
    flash: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    catalogue, board, visits = await asyncio.gather(
        _catalogue(request, session, t),
        board_panel(request, session, t, branch_id),
        visits_panel(request, session, t, branch_id),
    )
    return render(
        request,
        "desk.html",
        t,
        session,
        branch_id=branch_id,
        active="nav.desk",
        status_code=status_code,
        catalogue=catalogue,
        service_types=_service_types(catalogue.data),
        board=board,
        visits_html=render_visits(request, t, branch_id, visits),
        errors=errors or FormErrors(),
        form=form or {},
        flash=flash,
        counter=request.cookies.get(COUNTER_COOKIE, ""),
        accessibility=["hearing", "vision", "mobility", "language"],
        priorities=["elderly", "disabled", "vip"],
        pause_reasons=PAUSE_REASONS,
        may_manage_counter=session.can("reception.counter.manage", branch_id),
    )


@router.get("/b/{branch_id}/desk")
async def desk_page(
    request: Request, branch_id: str, session: Staff, t: T, visit: str | None = None
) -> Response:
    session.require("reception.visit.create", branch_id)
    flash = None
    if visit:
        panel = await _visit(request, session, t, visit)
        if panel.ok and panel.data.get("branch_id") == branch_id:
            flash = panel.data
            flash["missing_labels"] = "、".join(t.label("material", m) for m in flash.get("missing") or [])
    return await desk_view(request, session, t, branch_id, flash=flash)


@router.get("/b/{branch_id}/desk/visits/partial")
async def desk_visits_partial(request: Request, branch_id: str, session: Staff, t: T) -> HTMLResponse:
    session.require("reception.visit.list", branch_id)
    panel = await visits_panel(request, session, t, branch_id)
    return HTMLResponse(render_visits(request, t, branch_id, panel))


@router.get("/b/{branch_id}/desk/visits/stream")
async def desk_visits_stream(request: Request, branch_id: str, session: Staff, t: T) -> EventSourceResponse:
    """The day's visits, live: the same server-sent events as the lobby board (``visits``)."""
    session.require("reception.visit.list", branch_id)

    async def produce() -> str:
        return render_visits(request, t, branch_id, await visits_panel(request, session, t, branch_id))

    return live_html(request, session, produce, event="visits")


@router.post("/b/{branch_id}/desk/visits")
async def register(request: Request, branch_id: str, session: Staff, t: T) -> Response:
    """One submit, the visit's steps in order; stops at the first refusal and shows it.

    The customer (optional) is looked up in the vault first; the arrival and its ticket carry the
    form's idempotency key, so a second submit of the same form (double click, retry) answers the
    visit the first one registered instead of a second visit and ticket."""
    session.require("reception.visit.create", branch_id)
    raw = await request.form()
    form = form_dict(raw)
    accessibility = [str(v) for v in raw.getlist("accessibility")]
    have = {str(v) for v in raw.getlist("have")}
    service_type = form.get("service_type", "")
    arrive_body: dict[str, Any] = {
        "arrival": "walk_in",
        "returning": parse_bool(form.get("returning")) or False,
        "accessibility": accessibility,
    }
    if optional(form.get("priority")):
        arrive_body["priority"] = form["priority"]
    customer = await pick_customer(
        request, session, t, branch_id, form, required=False, idempotency_key=form_key(form, "customer")
    )
    shown = {**customer.shown(form), "accessibility": accessibility, "have": sorted(have)}

    async def fail(outcome: Outcome, visit_id: str | None = None) -> Response:
        code = outcome.errors.status if outcome.errors.status >= 400 else 400
        # a visit registered before the refusal is in the branch's list (every desk sees it)
        return await desk_view(
            request, session, t, branch_id, errors=outcome.errors, form=shown, status_code=code
        )

    if not customer.ok:
        return await fail(Outcome(errors=customer.errors))
    if customer.ref:
        arrive_body["customer_ref"] = customer.ref
        if customer.display:
            arrive_body["display_name"] = customer.display
    created = await command(
        request, session, t, "reception", f"/branches/{branch_id}/visits",
        action="reception.visit.create", branch_id=branch_id, body=arrive_body, form_fields=REGISTER_FIELDS,
        idempotency_key=form_key(form),
    )  # fmt: skip
    if not created.ok:
        return await fail(created)
    visit_id = str(created.body["visit_id"])
    if created.replayed:  # the same form again: the first submit registers (or registered) it
        return RedirectResponse(f"/b/{branch_id}/desk?visit={visit_id}", status_code=303)
    version = created.body.get("version")
    steps: list[tuple[str, dict[str, Any] | None]] = [
        ("greet", None),
        ("confirm-need", {"service_type": service_type, "notes": form.get("notes", "")}),
        ("guide", None),
    ]
    state: dict[str, Any] = {}
    for step, body in steps:
        outcome = await _visit_command(request, session, t, branch_id, visit_id, step, body, version)
        if not outcome.ok:
            return await fail(outcome, visit_id)
        state = outcome.body
        version = state.get("version")
    required = list(state.get("required_materials") or [])
    if required:
        missing = [m for m in required if m not in have]
        outcome = await _visit_command(
            request, session, t, branch_id, visit_id, "check-documents", {"missing": missing}, version
        )
        if not outcome.ok:
            return await fail(outcome, visit_id)
        state = outcome.body
        version = state.get("version")
    if state.get("status") in ("documents_complete", "guided"):
        outcome = await _visit_command(
            request, session, t, branch_id, visit_id, "queue", None, version, key=form_key(form, "queue")
        )
        if not outcome.ok:
            return await fail(outcome, visit_id)
    return RedirectResponse(f"/b/{branch_id}/desk?visit={visit_id}", status_code=303)


async def _visit_command(
    request: Request,
    session: Session,
    t: Translator,
    branch_id: str,
    visit_id: str,
    step: str,
    body: dict[str, Any] | None,
    version: Any,
    form_fields: tuple[str, ...] = REGISTER_FIELDS,
    key: str | None = None,
) -> Outcome:
    action, route, fixed = VISIT_STEPS[step]
    payload = {**fixed, **(body or {})} if (fixed or body) else None
    return await command(
        request, session, t, "reception", f"/visits/{visit_id}/{route}",
        action=action, branch_id=branch_id, body=payload, version=version, form_fields=form_fields,
        idempotency_key=key,
    )  # fmt: skip


@router.post("/b/{branch_id}/desk/call-next")
async def call_next(request: Request, branch_id: str, session: Staff, t: T) -> Response:
    session.require("reception.visit.call", branch_id)
    form = form_dict(await request.form())
    line, counter = form.get("line", ""), form.get("counter_id", "")
    outcome = await command(
        request, session, t, "reception", f"/branches/{branch_id}/lines/{line}/call-next",
        action="reception.visit.call", branch_id=branch_id, body={"counter_id": counter},
        form_fields=("counter_id",),
    )  # fmt: skip
    if not outcome.ok:
        return await desk_view(request, session, t, branch_id, errors=outcome.errors, status_code=400)
    response = RedirectResponse(f"/b/{branch_id}/visits/{outcome.body['visit_id']}", status_code=303)
    response.set_cookie(COUNTER_COOKIE, counter, samesite="strict", httponly=True, max_age=12 * 3600)
    return response


# ---------------------------------------------------------------------------------- one visit


async def visit_view(
    request: Request,
    session: Session,
    t: Translator,
    branch_id: str,
    visit_id: UUID,
    *,
    errors: FormErrors | None = None,
    failed_step: str | None = None,
    form: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    panel = await _visit(request, session, t, str(visit_id))
    visit = panel.data if panel.ok else None
    if visit is not None and visit.get("branch_id") != branch_id:
        visit, panel = None, Panel(problem=t("error.branch_mismatch", branch=branch_id))
    catalogue = await _catalogue(request, session, t) if visit else Panel()
    steps = [s for s in visit_steps(visit) if session.can(VISIT_STEPS[s][0], branch_id)] if visit else []
    return render(
        request,
        "visit.html",
        t,
        session,
        branch_id=branch_id,
        active="nav.desk",
        status_code=status_code,
        visit=visit,
        problem=panel.problem,
        steps=steps,
        service_types=_service_types(catalogue.data),
        errors=errors or FormErrors(),
        failed_step=failed_step,
        form=form or {},
        counter=request.cookies.get(COUNTER_COOKIE, ""),
    )


@router.get("/b/{branch_id}/visits/{visit_id}")
async def visit_page(request: Request, branch_id: str, visit_id: UUID, session: Staff, t: T) -> Response:
    session.require("reception.visit.read", branch_id)
    return await visit_view(request, session, t, branch_id, visit_id)


STEP_FIELDS = {
    "confirm-need": ("service_type", "notes"),
    "check-documents": ("missing",),
    "call": ("counter_id",),
    "serve": ("outcome", "next_steps", "promised_by"),
    "raise-complaint": ("description", "customer_name"),
}


@router.post("/b/{branch_id}/visits/{visit_id}/{step}")
async def visit_step(
    request: Request, branch_id: str, visit_id: UUID, step: str, session: Staff, t: T
) -> Response:
    if step not in VISIT_STEPS:
        return await visit_view(request, session, t, branch_id, visit_id, status_code=404)
    session.require(VISIT_STEPS[step][0], branch_id)
    loaded = await _visit(request, session, t, str(visit_id))
    if loaded.ok and loaded.data.get("branch_id") != branch_id:
        return await visit_view(request, session, t, branch_id, visit_id, status_code=404)
    raw = await request.form()
    form = form_dict(raw)
    body: dict[str, Any] | None = None
    if step == "confirm-need":
        body = {"service_type": form.get("service_type", ""), "notes": form.get("notes", "")}
    elif step == "check-documents":
        have = {str(v) for v in raw.getlist("have")}
        required = loaded.data.get("required_materials", []) if loaded.ok else []
        body = {"missing": [m for m in required if m not in have]}
    elif step == "call":
        body = {"counter_id": form.get("counter_id", "")}
    elif step == "serve":
        tz = request.app.state.clocks.tz(branch_id)
        body = {"outcome": form.get("outcome", ""), "next_steps": form.get("next_steps", "")}
        promised = local_datetime(form.get("promised_by"), tz)
        if promised:
            body["promised_by"] = promised
    elif step == "raise-complaint":
        body = {"description": form.get("description", "")}
        known = loaded.data.get("customer_ref") if loaded.ok else None
        if not known:  # a complaint needs its customer: picked through the vault
            key = form_key(form, "customer")
            customer = await pick_customer(
                request, session, t, branch_id, form, required=True, idempotency_key=key
            )
            if not customer.ok:
                return await visit_view(
                    request, session, t, branch_id, visit_id,
                    errors=customer.errors, failed_step=step, form=customer.shown(form), status_code=422,
                )  # fmt: skip
            body["customer_ref"] = customer.ref
    outcome = await _visit_command(
        request, session, t, branch_id, str(visit_id), step, body, form.get("version"),
        form_fields=STEP_FIELDS.get(step, ()), key=form_key(form) if step in KEYED_STEPS else None,
    )  # fmt: skip
    form = {k: v for k, v in form.items() if k not in TYPED}  # never shown again
    if not outcome.ok:
        code = outcome.errors.status if outcome.errors.status >= 400 else 400
        return await visit_view(
            request, session, t, branch_id, visit_id,
            errors=outcome.errors, failed_step=step, form=form, status_code=code,
        )  # fmt: skip
    response = RedirectResponse(f"/b/{branch_id}/visits/{visit_id}", status_code=303)
    if step == "call":
        response.set_cookie(COUNTER_COOKIE, form.get("counter_id", ""), samesite="strict", httponly=True)
    return response
