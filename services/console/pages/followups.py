"""Follow-ups: my (or the branch's) tasks overdue and due today; record a contact, complete."""

from __future__ import annotations

import asyncio
import math
from datetime import datetime, time, timedelta
from typing import Any
from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

from services.console.errors import FormErrors
from services.console.pages.forms import form_dict, parse_bool
from services.console.pages.page import BranchPage, FormState, Page
from services.console.texts import resolve_elsewhere
from services.console.web import Panel

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
    page: Page, *, mine: bool, forms: FormState | None = None, done: str | None = None
) -> Response:
    """The branch's (or ``mine``: the staff member's) tasks; a refused step names its task as
    ``<task_id>/<step>``."""
    now = datetime.now(page.request.app.state.clocks.tz(page.branch_id))
    common: dict[str, Any] = {"owner": page.session.staff_id if mine else None, "limit": 200}
    path, action = f"/branches/{page.branch_id}/follow-ups", "followup.read"
    overdue, due, upcoming, held = await asyncio.gather(
        page.fetch("followup", path, action=action, params={**common, "status": "overdue"}),
        page.fetch(
            "followup", path, action=action,
            params={**common, "status": "due", "within_hours": hours_left_today(now)},
        ),
        page.fetch(
            "followup", path, action=action,
            params={**common, "status": "due", "within_hours": UPCOMING_HOURS},
        ),
        page.fetch("followup", path, action=action, params={**common, "status": "open"}),
    )  # fmt: skip
    # the texts a task is about (a remediation action, a survey comment) are kept by their owners
    await resolve_elsewhere(
        page.backend, page.session, page.branch_id, *(p.data for p in (overdue, due, held) if p.ok)
    )
    today_ids = {task["task_id"] for task in (due.data or {}).get("tasks", [])} if due.ok else set()
    if upcoming.ok:
        later = [task for task in upcoming.data.get("tasks", []) if task["task_id"] not in today_ids]
        upcoming.data = {**upcoming.data, "tasks": later, "count": len(later)}
    return page.render(
        "followups.html",
        active="nav.followups",
        forms=forms,
        mine=mine,
        overdue=overdue,
        due=due,
        upcoming=upcoming,
        paused=_paused_only(held),
        done=done,
        can_contact=page.can("followup.contact"),
        can_complete=page.can("followup.complete"),
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
async def followups_page(page: BranchPage, mine: int = 0, done: str | None = None) -> Response:
    page.require("followup.read")
    return await page_view(page, mine=bool(mine), done=done)


@router.post("/b/{branch_id}/follow-ups/{task_id}/{step}")
async def task_step(page: BranchPage, task_id: UUID, step: str) -> Response:
    form = form_dict(await page.request.form())
    mine = form.get("mine") == "1"
    if step not in STEPS:
        return await page_view(page, mine=mine, forms=FormState(status=404))
    page.require(STEPS[step])
    loaded = await page.record("followup", f"/follow-ups/{task_id}", action="followup.read")
    if loaded.foreign:
        return await page_view(
            page, mine=mine, forms=FormState.refused(FormErrors(banner=loaded.problem, status=404))
        )
    body: dict[str, Any]
    if step == "contact":
        body = {"reached": parse_bool(form.get("reached")) is True, "note": form.get("note", "")}
    else:
        body = {"note": form.get("note", "")}
        verified = parse_bool(form.get("verified"))
        if verified is not None:
            body["verified"] = verified
    outcome = await page.command(
        "followup", f"/follow-ups/{task_id}/{step}",
        action=STEPS[step], body=body, version=form.get("version"), form_fields=STEP_FIELDS[step],
    )  # fmt: skip
    if not outcome.ok:
        return await page_view(
            page, mine=mine, forms=FormState.refused(outcome.errors, step=f"{task_id}/{step}")
        )
    suffix = "&mine=1" if mine else ""
    return RedirectResponse(f"/b/{page.branch_id}/follow-ups?done={task_id}{suffix}", status_code=303)
