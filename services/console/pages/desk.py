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

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sse_starlette import EventSourceResponse

from services.console.customers import TYPED, pick_customer
from services.console.errors import FormErrors
from services.console.pages.counter import PAUSE_REASONS
from services.console.pages.counter import router as counter_router
from services.console.pages.forms import Outcome, form_dict, form_key, local_datetime, optional, parse_bool
from services.console.pages.lobby import board_panel, live_html
from services.console.pages.page import BranchPage, FormState, Page
from services.console.web import Panel, fetch, templates

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


async def visits_panel(page: Page) -> Panel:
    """The branch's visits of the day, open ones first (newest arrival first within each)."""
    panel = await page.fetch(
        "reception", f"/branches/{page.branch_id}/visits", action="reception.visit.list",
        params={"limit": VISITS_SHOWN},
    )  # fmt: skip
    if panel.ok:
        items = panel.data.get("items", [])
        panel.data = [v for v in items if v.get("stage") != "left"] + [
            v for v in items if v.get("stage") == "left"
        ]
    return panel


def render_visits(page: Page, panel: Panel) -> str:
    clocks = page.request.app.state.clocks
    t, branch_id = page.t, page.branch_id
    return templates.get_template("_desk_visits.html").render(
        t=t,
        visits=panel.data if panel.ok else [],
        problem=panel.problem,
        branch_id=branch_id,
        local=lambda v, fmt="%H:%M:%S": clocks.local(v, branch_id, fmt, t.lang),
    )


async def _catalogue(page: Page) -> Panel:
    return await fetch(
        page.backend, page.session, page.t, "reception", "/catalogue", action="reception.catalogue.read"
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


async def _visit(page: Page, visit_id: str) -> Panel:
    return await page.record("reception", f"/visits/{visit_id}", action="reception.visit.read")


async def desk_view(
    page: Page, *, flash: dict[str, Any] | None = None, forms: FormState | None = None
) -> Response:
    catalogue, board, visits = await asyncio.gather(_catalogue(page), board_panel(page), visits_panel(page))
    return page.render(
        "desk.html",
        active="nav.desk",
        forms=forms,
        catalogue=catalogue,
        service_types=_service_types(catalogue.data),
        board=board,
        visits_html=render_visits(page, visits),
        flash=flash,
        counter=page.request.cookies.get(COUNTER_COOKIE, ""),
        accessibility=["hearing", "vision", "mobility", "language"],
        priorities=["elderly", "disabled", "vip"],
        pause_reasons=PAUSE_REASONS,
        may_manage_counter=page.can("reception.counter.manage"),
    )


@router.get("/b/{branch_id}/desk")
async def desk_page(page: BranchPage, visit: str | None = None) -> Response:
    page.require("reception.visit.create")
    flash = None
    if visit:
        panel = await _visit(page, visit)
        if panel.ok:
            flash = panel.data
            flash["missing_labels"] = "、".join(
                page.t.label("material", m) for m in flash.get("missing") or []
            )
    return await desk_view(page, flash=flash)


@router.get("/b/{branch_id}/desk/visits/partial")
async def desk_visits_partial(page: BranchPage) -> HTMLResponse:
    page.require("reception.visit.list")
    return HTMLResponse(render_visits(page, await visits_panel(page)))


@router.get("/b/{branch_id}/desk/visits/stream")
async def desk_visits_stream(page: BranchPage) -> EventSourceResponse:
    """The day's visits, live: the same server-sent events as the lobby board (``visits``)."""
    page.require("reception.visit.list")

    async def produce() -> str:
        return render_visits(page, await visits_panel(page))

    return live_html(page, produce, event="visits")


@router.post("/b/{branch_id}/desk/visits")
async def register(page: BranchPage) -> Response:
    """One submit, the visit's steps in order; stops at the first refusal and shows it.

    The customer (optional) is looked up in the vault first; the arrival and its ticket carry the
    form's idempotency key, so a second submit of the same form (double click, retry) answers the
    visit the first one registered instead of a second visit and ticket."""
    page.require("reception.visit.create")
    raw = await page.request.form()
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
    customer = await pick_customer(page, form, required=False, idempotency_key=form_key(form, "customer"))
    shown = {**customer.shown(form), "accessibility": accessibility, "have": sorted(have)}

    async def fail(errors: FormErrors) -> Response:
        # a visit registered before the refusal is in the branch's list (every desk sees it)
        return await desk_view(page, forms=FormState.refused(errors, shown))

    if not customer.ok:
        return await fail(customer.errors)
    if customer.ref:
        arrive_body["customer_ref"] = customer.ref
        if customer.display:
            arrive_body["display_name"] = customer.display
    created = await page.command(
        "reception", f"/branches/{page.branch_id}/visits",
        action="reception.visit.create", body=arrive_body, form_fields=REGISTER_FIELDS,
        idempotency_key=form_key(form),
    )  # fmt: skip
    if not created.ok:
        return await fail(created.errors)
    visit_id = str(created.body["visit_id"])
    registered = RedirectResponse(f"/b/{page.branch_id}/desk?visit={visit_id}", status_code=303)
    if created.replayed:  # the same form again: the first submit registers (or registered) it
        return registered
    version = created.body.get("version")
    steps: list[tuple[str, dict[str, Any] | None]] = [
        ("greet", None),
        ("confirm-need", {"service_type": service_type, "notes": form.get("notes", "")}),
        ("guide", None),
    ]
    state: dict[str, Any] = {}
    for step, body in steps:
        outcome = await _visit_command(page, visit_id, step, body, version)
        if not outcome.ok:
            return await fail(outcome.errors)
        state = outcome.body
        version = state.get("version")
    required = list(state.get("required_materials") or [])
    if required:
        missing = [m for m in required if m not in have]
        outcome = await _visit_command(page, visit_id, "check-documents", {"missing": missing}, version)
        if not outcome.ok:
            return await fail(outcome.errors)
        state = outcome.body
        version = state.get("version")
    if state.get("status") in ("documents_complete", "guided"):
        outcome = await _visit_command(page, visit_id, "queue", None, version, key=form_key(form, "queue"))
        if not outcome.ok:
            return await fail(outcome.errors)
    return registered


async def _visit_command(
    page: Page,
    visit_id: str,
    step: str,
    body: dict[str, Any] | None,
    version: Any,
    form_fields: tuple[str, ...] = REGISTER_FIELDS,
    key: str | None = None,
) -> Outcome:
    action, route, fixed = VISIT_STEPS[step]
    payload = {**fixed, **(body or {})} if (fixed or body) else None
    return await page.command(
        "reception", f"/visits/{visit_id}/{route}",
        action=action, body=payload, version=version, form_fields=form_fields, idempotency_key=key,
    )  # fmt: skip


@router.post("/b/{branch_id}/desk/call-next")
async def call_next(page: BranchPage) -> Response:
    page.require("reception.visit.call")
    form = form_dict(await page.request.form())
    line, counter = form.get("line", ""), form.get("counter_id", "")
    outcome = await page.command(
        "reception", f"/branches/{page.branch_id}/lines/{line}/call-next",
        action="reception.visit.call", body={"counter_id": counter}, form_fields=("counter_id",),
    )  # fmt: skip
    if not outcome.ok:
        return await desk_view(page, forms=FormState(outcome.errors, status=400))
    response = RedirectResponse(f"/b/{page.branch_id}/visits/{outcome.body['visit_id']}", status_code=303)
    response.set_cookie(COUNTER_COOKIE, counter, samesite="strict", httponly=True, max_age=12 * 3600)
    return response


# ---------------------------------------------------------------------------------- one visit


async def visit_view(page: Page, visit_id: UUID, forms: FormState | None = None) -> Response:
    panel = await _visit(page, str(visit_id))
    visit = panel.data if panel.ok else None
    catalogue = await _catalogue(page) if visit else Panel()
    steps = [s for s in visit_steps(visit) if page.can(VISIT_STEPS[s][0])] if visit else []
    return page.render(
        "visit.html",
        active="nav.desk",
        forms=forms,
        visit=visit,
        problem=panel.problem,
        steps=steps,
        service_types=_service_types(catalogue.data),
        counter=page.request.cookies.get(COUNTER_COOKIE, ""),
    )


@router.get("/b/{branch_id}/visits/{visit_id}")
async def visit_page(page: BranchPage, visit_id: UUID) -> Response:
    page.require("reception.visit.read")
    return await visit_view(page, visit_id)


STEP_FIELDS = {
    "confirm-need": ("service_type", "notes"),
    "check-documents": ("missing",),
    "call": ("counter_id",),
    "serve": ("outcome", "next_steps", "promised_by"),
    "raise-complaint": ("description", "customer_name"),
}


@router.post("/b/{branch_id}/visits/{visit_id}/{step}")
async def visit_step(page: BranchPage, visit_id: UUID, step: str) -> Response:
    if step not in VISIT_STEPS:
        return await visit_view(page, visit_id, FormState(status=404))
    page.require(VISIT_STEPS[step][0])
    loaded = await _visit(page, str(visit_id))
    if loaded.foreign:
        return await visit_view(page, visit_id, FormState(status=404))
    raw = await page.request.form()
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
        tz = page.request.app.state.clocks.tz(page.branch_id)
        body = {"outcome": form.get("outcome", ""), "next_steps": form.get("next_steps", "")}
        promised = local_datetime(form.get("promised_by"), tz)
        if promised:
            body["promised_by"] = promised
    elif step == "raise-complaint":
        body = {"description": form.get("description", "")}
        known = loaded.data.get("customer_ref") if loaded.ok else None
        if not known:  # a complaint needs its customer: picked through the vault
            key = form_key(form, "customer")
            customer = await pick_customer(page, form, required=True, idempotency_key=key)
            if not customer.ok:
                return await visit_view(
                    page, visit_id, FormState(customer.errors, customer.shown(form), step, 422)
                )
            body["customer_ref"] = customer.ref
    outcome = await _visit_command(
        page, str(visit_id), step, body, form.get("version"),
        form_fields=STEP_FIELDS.get(step, ()), key=form_key(form) if step in KEYED_STEPS else None,
    )  # fmt: skip
    form = {k: v for k, v in form.items() if k not in TYPED}  # never shown again
    if not outcome.ok:
        return await visit_view(page, visit_id, FormState.refused(outcome.errors, form, step))
    response = RedirectResponse(f"/b/{page.branch_id}/visits/{visit_id}", status_code=303)
    if step == "call":
        response.set_cookie(COUNTER_COOKIE, form.get("counter_id", ""), samesite="strict", httponly=True)
    return response
