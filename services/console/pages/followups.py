"""Follow-ups: my (or the branch's) tasks overdue and due today; record a contact, complete."""

from __future__ import annotations

import asyncio
import math
from datetime import datetime, time, timedelta
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.console.errors import FormErrors
from services.console.i18n import Translator
from services.console.pages.forms import command, form_dict, parse_bool
from services.console.session import Session, Staff, T
from services.console.texts import resolve_elsewhere
from services.console.web import Panel, fetch, render

router = APIRouter()

STEPS = {"contact": "followup.contact", "complete": "followup.complete"}
STEP_FIELDS = {"contact": ("reached", "note"), "complete": ("note", "verified")}
#: tasks that need the customer reached before they can be completed (follow-up's rule)
UPCOMING_HOURS = 7 * 24
CUSTOMER_FACING = frozenset({"progress_update", "callback", "service_recovery", "inform_complainant"})


def hours_left_today(now: datetime) -> int:
    """The ``within_hours`` horizon that ends at the branch's midnight (at least 1)."""
    midnight = datetime.combine(now.date() + timedelta(days=1), time(0), now.tzinfo)
    return max(1, math.ceil((midnight - now).total_seconds() / 3600))


async def page_view(
    request: Request,
    session: Session,
    t: Translator,
    branch_id: str,
    *,
    mine: bool,
    errors: FormErrors | None = None,
    failed: tuple[str, str] | None = None,
    done: str | None = None,
    status_code: int = 200,
) -> Response:
    tz = request.app.state.clocks.tz(branch_id)
    now = datetime.now(tz)
    owner = session.staff_id if mine else None
    common: dict[str, Any] = {"owner": owner, "limit": 200}
    backend = request.app.state.backend
    path = f"/branches/{branch_id}/follow-ups"
    overdue, due, upcoming, held = await asyncio.gather(
        fetch(
            backend, session, t, "followup", path,
            action="followup.read", branch_id=branch_id, params={**common, "status": "overdue"},
        ),
        fetch(
            backend, session, t, "followup", path, action="followup.read", branch_id=branch_id,
            params={**common, "status": "due", "within_hours": hours_left_today(now)},
        ),
        fetch(
            backend, session, t, "followup", path, action="followup.read", branch_id=branch_id,
            params={**common, "status": "due", "within_hours": UPCOMING_HOURS},
        ),
        fetch(
            backend, session, t, "followup", path,
            action="followup.read", branch_id=branch_id, params={**common, "status": "open"},
        ),
    )  # fmt: skip
    # the texts a task is about (a remediation action, a survey comment) are kept by their owners
    await resolve_elsewhere(backend, session, branch_id, *(p.data for p in (overdue, due, held) if p.ok))
    today_ids = {task["task_id"] for task in (due.data or {}).get("tasks", [])} if due.ok else set()
    if upcoming.ok:
        later = [task for task in upcoming.data.get("tasks", []) if task["task_id"] not in today_ids]
        upcoming.data = {**upcoming.data, "tasks": later, "count": len(later)}
    paused = _paused_only(held)
    return render(
        request,
        "followups.html",
        t,
        session,
        branch_id=branch_id,
        active="nav.followups",
        status_code=status_code,
        mine=mine,
        overdue=overdue,
        due=due,
        upcoming=upcoming,
        paused=paused,
        errors=errors or FormErrors(),
        failed=failed,
        done=done,
        can_contact=session.can("followup.contact", branch_id),
        can_complete=session.can("followup.complete", branch_id),
        customer_facing=CUSTOMER_FACING,
    )


def _paused_only(panel: Panel) -> Panel:
    """The open tasks follow-up paused because their complaint is on hold (``paused_at``): they are
    neither due nor overdue (their due time moves on by the time left when the hold ends), so the
    due / overdue lists leave them out; staff still see them, marked, in a panel of their own."""
    if panel.ok:
        tasks = [task for task in panel.data.get("tasks", []) if task.get("paused_at")]
        panel.data = {**panel.data, "tasks": tasks, "count": len(tasks)}
    return panel


@router.get("/b/{branch_id}/follow-ups")
async def followups_page(
    request: Request, branch_id: str, session: Staff, t: T, mine: int = 0, done: str | None = None
) -> Response:
    session.require("followup.read", branch_id)
    return await page_view(request, session, t, branch_id, mine=bool(mine), done=done)


@router.post("/b/{branch_id}/follow-ups/{task_id}/{step}")
async def task_step(
    request: Request, branch_id: str, task_id: UUID, step: str, session: Staff, t: T
) -> Response:
    form = form_dict(await request.form())
    mine = form.get("mine") == "1"
    if step not in STEPS:
        return await page_view(request, session, t, branch_id, mine=mine, status_code=404)
    session.require(STEPS[step], branch_id)
    loaded = await fetch(
        request.app.state.backend, session, t, "followup", f"/follow-ups/{task_id}", action="followup.read"
    )
    if loaded.ok and loaded.data.get("branch_id") != branch_id:
        errors = FormErrors(banner=t("error.branch_mismatch", branch=branch_id), status=404)
        return await page_view(request, session, t, branch_id, mine=mine, errors=errors, status_code=404)
    body: dict[str, Any]
    if step == "contact":
        body = {"reached": parse_bool(form.get("reached")) is True, "note": form.get("note", "")}
    else:
        body = {"note": form.get("note", "")}
        verified = parse_bool(form.get("verified"))
        if verified is not None:
            body["verified"] = verified
    outcome = await command(
        request, session, t, "followup", f"/follow-ups/{task_id}/{step}",
        action=STEPS[step], branch_id=branch_id, body=body, version=form.get("version"),
        form_fields=STEP_FIELDS[step],
    )  # fmt: skip
    if not outcome.ok:
        code = outcome.errors.status if outcome.errors.status >= 400 else 400
        return await page_view(
            request, session, t, branch_id, mine=mine, errors=outcome.errors,
            failed=(str(task_id), step), status_code=code,
        )  # fmt: skip
    suffix = "&mine=1" if mine else ""
    return RedirectResponse(f"/b/{branch_id}/follow-ups?done={task_id}{suffix}", status_code=303)
