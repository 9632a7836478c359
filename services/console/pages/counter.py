"""The desk's counter controls: open, pause (with a reason), resume and close one's counter.

One form, the step in the button pressed; reception decides (409 with the reason, e.g. "counter 3
is busy with ticket A001", shown as a banner on the desk). The counter typed here is remembered for
call-next (the same cookie), so a teller types it once a day.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

from services.console.errors import FormErrors
from services.console.pages.forms import form_dict
from services.console.pages.page import BranchPage, FormState

router = APIRouter()

STEPS = ("open", "pause", "resume", "close")
PAUSE_REASONS = ("break", "lunch", "meeting", "training", "equipment", "floor_duty", "other")
COUNTER_COOKIE = "bc_counter"


@router.post("/b/{branch_id}/desk/counter")
async def counter_step(page: BranchPage) -> Response:
    from services.console.pages.desk import desk_view  # the desk imports this router

    page.require("reception.counter.manage")
    form = form_dict(await page.request.form())
    counter, step = form.get("counter_id", "").strip(), form.get("step", "")
    if step not in STEPS:
        return await desk_view(
            page, forms=FormState.refused(FormErrors(banner=page.t("counter.unknown_step"), status=422))
        )
    body = {"reason": form.get("reason", "")} if step == "pause" else {}
    outcome = await page.command(
        "reception", f"/branches/{page.branch_id}/counters/{counter}/{step}",
        action="reception.counter.manage", body=body, form_fields=("counter_id", "reason"),
    )  # fmt: skip
    if not outcome.ok:
        return await desk_view(page, forms=FormState.refused(outcome.errors))
    response = RedirectResponse(f"/b/{page.branch_id}/desk", status_code=303)
    response.set_cookie(COUNTER_COOKIE, counter, samesite="strict", httponly=True, max_age=12 * 3600)
    return response
