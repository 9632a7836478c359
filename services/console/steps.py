"""Which complaint steps a case takes now, so the case page shows only those buttons.

The complaint service is the authority: its case view lists every step with whether its decider
takes it now (``allowed_steps``, with the reason when not), so the console keeps no copy of the
rules. A step it still refuses (a colleague acted in between) answers 409 with the reason, shown
as a banner. The page then keeps only the steps the signed-in role may take
(``shared.auth.is_allowed``) and orders them: the case's next move first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: button → the action of shared/auth/permissions.py it performs
STEP_ACTIONS: Mapping[str, str] = {
    "acknowledge": "complaint.acknowledge",
    "classify": "complaint.classify",
    "start-investigation": "complaint.investigate",
    "propose": "complaint.propose",
    "accept": "complaint.accept",
    "reject": "complaint.reject",
    "implement": "complaint.implement",
    "answer": "complaint.answer",
    "close": "complaint.close",
    "reopen": "complaint.reopen",
    "hold": "complaint.hold",
    "resume": "complaint.resume",
    "escalate": "complaint.escalate",
    "merge": "complaint.merge",
    "customer-left": "complaint.customer_left",
    "progress-update": "complaint.progress_update",
    "extend": "complaint.extension.request",
}

LEVELS = ("lobby_manager", "branch_head", "hq_department")


def allowed_steps(case: Mapping[str, Any]) -> list[str]:
    """The steps the case takes now that the console has a form for, in the order a handler
    works through them — read from the case view's ``allowed_steps`` (the decider's answer)."""
    offered = case.get("allowed_steps") or ()
    allowed = [s["step"] for s in offered if s.get("allowed") and s.get("step") in STEP_ACTIONS]
    return _in_working_order(allowed, case)


#: the case's next move first (the form the page opens), the side steps after it
_MAIN_ORDER = (
    "resume", "acknowledge", "start-investigation", "implement", "accept", "reject", "propose", "answer",
    "close", "reopen",
)  # fmt: skip


def _in_working_order(steps: list[str], case: Mapping[str, Any]) -> list[str]:
    main = [s for s in _MAIN_ORDER if s in steps]
    if case.get("status") == "acknowledged" and case.get("classification") is None and "classify" in steps:
        main.insert(0, "classify")
    return main + [s for s in steps if s not in main]


def answer_outcomes(case: Mapping[str, Any]) -> list[str]:
    """``not_upheld`` after an investigation with no solution on the table; else upheld ones."""
    status = case.get("status")
    if status in {"investigating", "solutions_rejected"}:
        return ["not_upheld"]
    if status == "implemented":
        return ["upheld", "partially_upheld"]
    return []


def next_level(level: str) -> str | None:
    index = LEVELS.index(level) if level in LEVELS else 0
    return LEVELS[index + 1] if index + 1 < len(LEVELS) else None
