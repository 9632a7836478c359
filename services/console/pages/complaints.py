"""Complaints: the open list by nearest deadline, registering one, and the case page.

The case page shows the whole history (every event, who, when), each deadline with the rule
behind it, and a form only for the steps the case takes now (``services.console.steps``) that the
signed-in role may take. Every step is posted with ``If-Match`` = the version the page showed: a
colleague's change in between comes back as 409 and the page says so instead of overwriting it.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

from services.console.customers import pick_customer
from services.console.i18n import Translator
from services.console.pages.forms import form_dict, form_key, optional, parse_bool
from services.console.pages.page import BranchPage, FormState, Page
from services.console.steps import STEP_ACTIONS, allowed_steps, answer_outcomes, next_level
from services.console.texts import resolve_elsewhere, show_text
from services.console.web import Panel
from shared.contracts.complaint import Category, Channel, HoldKind, Nature, Urgency

router = APIRouter()

REGISTER_FIELDS = ("channel", "customer_name", "description", "visit_id")
SOLUTION_ROWS = 3
#: history data shown on the case page (ids and bookkeeping are left out)
HISTORY_KEYS = (
    "channel", "description", "apology", "category", "nature", "source", "urgency", "note", "reason",
    "solutions", "answer", "outcome", "result", "customer_satisfied", "root_cause", "remediation",
    "from_level", "to_level", "automatic", "cause", "kind", "sla", "limit_days", "finding",
)  # fmt: skip


def _fields_of(step: str) -> tuple[str, ...]:
    if step == "propose":
        return tuple(
            f"solutions.{i}.{k}" for i in range(SOLUTION_ROWS) for k in ("description", "compensation")
        )
    return STEP_FIELDS.get(step, ())


STEP_FIELDS: dict[str, tuple[str, ...]] = {
    "acknowledge": ("apology",),
    "classify": ("category", "nature", "source", "urgency"),
    "start-investigation": ("note",),
    "accept": ("solution_id", "note"),
    "reject": ("solution_id", "reason"),
    "implement": ("solution_id", "note"),
    "answer": ("answer", "outcome"),
    "close": ("result", "customer_satisfied", "root_cause", "remediation"),
    "reopen": ("reason",),
    "hold": ("reason", "kind"),
    "resume": ("note",),
    "escalate": ("reason", "to_level"),
    "merge": ("cause", "incident_id"),
    "customer-left": (),
    "progress-update": ("note",),
    "extend": ("reason",),
}


def step_body(step: str, form: dict[str, str]) -> dict[str, Any] | None:
    """The JSON body of a step from its form (inputs are named after the API's fields)."""
    if step == "propose":
        solutions = []
        for i in range(SOLUTION_ROWS):
            description = form.get(f"solutions.{i}.description", "")
            compensation = form.get(f"solutions.{i}.compensation", "")
            if not description and not compensation:
                continue
            item: dict[str, Any] = {"description": description}
            if compensation:
                try:
                    item["compensation"] = str(Decimal(compensation))
                except InvalidOperation:
                    item["compensation"] = compensation  # the service names the problem
            solutions.append(item)
        return {"solutions": solutions}
    if step == "customer-left":
        return None
    if step == "close":
        body: dict[str, Any] = {"result": form.get("result", "")}
        satisfied = parse_bool(form.get("customer_satisfied"))
        if satisfied is not None:
            body["customer_satisfied"] = satisfied
        for name in ("root_cause", "remediation"):
            if optional(form.get(name)):
                body[name] = form[name]
        return body
    body = {}
    for name in STEP_FIELDS.get(step, ()):
        value = form.get(name, "")
        if name in ("incident_id", "to_level") and not value:
            continue
        body[name] = value
    return body


async def board_view(
    page: Page, *, sla: str | None = None, visit_id: str | None = None, forms: FormState | None = None
) -> Response:
    board = await page.fetch(
        "complaint", f"/branches/{page.branch_id}/complaints", action="complaint.read",
        params={"status": "open", "sla": sla},
    )  # fmt: skip
    fresh = {"visit_id": visit_id, "channel": "in_branch"} if visit_id else {"channel": "in_branch"}
    return page.render(
        "complaints.html",
        active="nav.complaints",
        forms=forms or FormState(form=fresh),
        board=board,
        sla=sla,
        can_register=page.can("complaint.create"),
        channels=[c.value for c in Channel],
    )


@router.get("/b/{branch_id}/complaints")
async def complaints_page(page: BranchPage, sla: str | None = None, visit_id: str | None = None) -> Response:
    page.require("complaint.read")
    sla = sla if sla in ("at_risk", "breached") else None
    return await board_view(page, sla=sla, visit_id=visit_id)


@router.post("/b/{branch_id}/complaints")
async def register(page: BranchPage) -> Response:
    """Register a complaint: the customer is picked through the vault (or is the linked visit's);
    the form's idempotency key makes a second submit of the same form answer the first case."""
    page.require("complaint.create")
    form = form_dict(await page.request.form())
    visit_ref = await _visit_customer(page, form.get("visit_id"))
    customer = await pick_customer(
        page, form, required=visit_ref is None, idempotency_key=form_key(form, "customer")
    )
    if not customer.ok:
        return await board_view(page, forms=FormState(customer.errors, customer.shown(form), status=422))
    body: dict[str, Any] = {k: form.get(k, "") for k in ("channel", "description")}
    body["customer_ref"] = customer.ref or visit_ref
    if optional(form.get("visit_id")):
        body["visit_id"] = form["visit_id"]
    outcome = await page.command(
        "complaint", f"/branches/{page.branch_id}/complaints",
        action="complaint.create", body=body, form_fields=REGISTER_FIELDS, idempotency_key=form_key(form),
    )  # fmt: skip
    if not outcome.ok:
        return await board_view(page, forms=FormState.refused(outcome.errors, customer.shown(form)))
    return RedirectResponse(
        f"/b/{page.branch_id}/complaints/{outcome.body['complaint_id']}?done=registered", 303
    )


async def _visit_customer(page: Page, visit_id: str | None) -> str | None:
    """The customer of the linked visit of this branch, if it has one (no need to type them again)."""
    if not optional(visit_id) or not page.can("reception.visit.read"):
        return None
    try:
        UUID(str(visit_id))
    except ValueError:
        return None  # the complaint service says what is wrong with it
    panel = await page.record("reception", f"/visits/{visit_id}", action="reception.visit.read")
    if not panel.ok:
        return None
    ref = panel.data.get("customer_ref")
    return str(ref) if ref else None


# ------------------------------------------------------------------------------------ the case


def history_rows(history: list[dict[str, Any]], t: Translator) -> list[dict[str, Any]]:
    rows = []
    for entry in history:
        data = entry.get("data") or {}
        details = []
        for key in HISTORY_KEYS:
            if key not in data or data[key] in (None, "", []):
                continue
            value = data[key]
            if key == "solutions" and isinstance(value, list):
                value = "; ".join(
                    show_text(s.get("description"), t)
                    + (f" ({s['compensation']} {s.get('currency', '')})" if s.get("compensation") else "")
                    for s in value
                    if isinstance(s, dict)
                )
            elif isinstance(value, dict):
                value = show_text(value, t)
            elif key in ("category", "nature", "urgency", "channel", "outcome"):
                value = t.label(key, value)
            elif key in ("from_level", "to_level"):
                value = t.label("level", value)
            elif key == "sla":
                value = t.label("sla_name", value)
            elif key == "kind":
                value = t.label("hold_kind", value)
            details.append((key, value))
        rows.append({**entry, "details": details})
    return rows


async def case_view(
    page: Page, complaint_id: UUID, *, forms: FormState | None = None, done: str | None = None
) -> Response:
    panel = await _case(page, complaint_id)
    case = panel.data if panel.ok else None
    steps: list[str] = []
    if case is not None:  # a case raised from a visit or a survey keeps that context's text
        await resolve_elsewhere(page.backend, page.session, page.branch_id, case)
        # the service's decider says which steps the case takes now
        steps = [s for s in allowed_steps(case) if page.can(STEP_ACTIONS[s])]
    return page.render(
        "complaint.html",
        active="nav.complaints",
        forms=forms,
        case=case,
        problem=panel.problem,
        steps=steps,
        history=history_rows(case.get("history") or [], page.t) if case else [],
        done=done,
        categories=[c.value for c in Category],
        natures=[n.value for n in Nature],
        urgencies=[u.value for u in Urgency],
        hold_kinds=[k.value for k in HoldKind],
        outcomes=answer_outcomes(case) if case else [],
        next_level=next_level(case["level"]) if case else None,
        solution_rows=SOLUTION_ROWS,
    )


async def _case(page: Page, complaint_id: UUID) -> Panel:
    return await page.record("complaint", f"/complaints/{complaint_id}", action="complaint.read")


@router.get("/b/{branch_id}/complaints/{complaint_id}")
async def case_page(page: BranchPage, complaint_id: UUID, done: str | None = None) -> Response:
    page.require("complaint.read")
    return await case_view(page, complaint_id, done=done)


@router.post("/b/{branch_id}/complaints/{complaint_id}/{step}")
async def case_step(page: BranchPage, complaint_id: UUID, step: str) -> Response:
    if step not in STEP_ACTIONS:
        return await case_view(page, complaint_id, forms=FormState(status=404))
    page.require(STEP_ACTIONS[step])
    if (await _case(page, complaint_id)).foreign:
        return await case_view(page, complaint_id, forms=FormState(status=404))
    form = form_dict(await page.request.form())
    outcome = await page.command(
        "complaint", f"/complaints/{complaint_id}/{step}",
        action=STEP_ACTIONS[step], body=step_body(step, form), version=form.get("version"),
        form_fields=_fields_of(step),
    )  # fmt: skip
    if not outcome.ok:
        return await case_view(page, complaint_id, forms=FormState.refused(outcome.errors, form, step))
    return RedirectResponse(f"/b/{page.branch_id}/complaints/{complaint_id}?done={step}", status_code=303)
