"""The desk's counter controls: open, pause (with a reason), resume and close one's counter.

One form, the step in the button pressed; reception decides (409 with the reason, e.g. "counter 3
is busy with ticket A001", shown as a banner on the desk). The counter typed here is remembered for
call-next (the same cookie), so a teller types it once a day.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.console.errors import FormErrors
from services.console.pages.forms import command, form_dict
from services.console.session import Staff, T

router = APIRouter()

STEPS = ("open", "pause", "resume", "close")
PAUSE_REASONS = ("break", "lunch", "meeting", "training", "equipment", "floor_duty", "other")
COUNTER_COOKIE = "bc_counter"


@router.post("/b/{branch_id}/desk/counter")
async def counter_step(request: Request, branch_id: str, session: Staff, t: T) -> Response:
    from services.console.pages.desk import desk_view  # the desk imports this router

    session.require("reception.counter.manage", branch_id)
    form = form_dict(await request.form())
    counter, step = form.get("counter_id", "").strip(), form.get("step", "")
    if step not in STEPS:
        errors = FormErrors(banner=t("counter.unknown_step"), status=422)
        return await desk_view(request, session, t, branch_id, errors=errors, status_code=422)
    body = {"reason": form.get("reason", "")} if step == "pause" else {}
    outcome = await command(
        request, session, t, "reception", f"/branches/{branch_id}/counters/{counter}/{step}",
        action="reception.counter.manage", branch_id=branch_id, body=body,
        form_fields=("counter_id", "reason"),
    )  # fmt: skip
    if not outcome.ok:
        code = outcome.errors.status if outcome.errors.status >= 400 else 400
        return await desk_view(request, session, t, branch_id, errors=outcome.errors, status_code=code)
    response = RedirectResponse(f"/b/{branch_id}/desk", status_code=303)
    response.set_cookie(COUNTER_COOKIE, counter, samesite="strict", httponly=True, max_age=12 * 3600)
    return response
