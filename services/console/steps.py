"""Which complaint steps a case takes now, so the case page shows only those buttons.

The complaint service is the authority (a step it refuses answers 409 with the reason, shown as a
banner); this mirrors its decider's guards from the case view it returns (status, hold, level,
solutions, the current cycle's history), and a unit test replays real decider states against it.
The page then keeps only the steps the signed-in role may take (``shared.auth.is_allowed``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
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

OPEN = frozenset(
    {
        "received",
        "acknowledged",
        "classified",
        "investigating",
        "solutions_proposed",
        "solutions_rejected",
        "solution_accepted",
        "implemented",
        "answered",
        "reopened",
    }
)
_NOT_YET_ACKNOWLEDGED = frozenset({"received", "reopened"})
#: steps a case on hold still takes (everything else waits for "resume")
ON_HOLD_STEPS = frozenset(
    {"resume", "escalate", "merge", "classify", "progress-update", "extend", "customer-left"}
)
LEVELS = ("lobby_manager", "branch_head", "hq_department")
REOPEN_WINDOW = timedelta(days=30)
REGULATORY_SLA = "complaint.regulatory"


@dataclass(frozen=True)
class CaseFacts:
    """What the guards look at, read from ``GET /complaints/{id}``."""

    status: str
    on_hold: bool = False
    level: str = "lobby_manager"
    channel: str | None = None
    customer_left: bool = False
    in_incident: bool = False
    classified: bool = False
    closed_at: datetime | None = None
    proposed: tuple[str, ...] = ()
    accepted: tuple[str, ...] = ()
    #: the regulatory limit was already extended in this cycle
    extended: bool = False
    #: the regulatory deadline of this cycle was breached
    regulatory_breached: bool = False

    @classmethod
    def from_view(cls, view: Mapping[str, Any]) -> CaseFacts:
        cycle = view.get("cycle", 1)
        current = [s for s in view.get("solutions") or [] if s.get("cycle", cycle) == cycle]
        history = _current_cycle(view.get("history") or [])
        return cls(
            status=str(view.get("status", "none")),
            on_hold=bool(view.get("on_hold")),
            level=str(view.get("level") or "lobby_manager"),
            channel=view.get("channel"),
            customer_left=view.get("customer_left_at") is not None,
            in_incident=view.get("incident_id") is not None,
            classified=view.get("classification") is not None,
            closed_at=_parse_time(view.get("closed_at")),
            proposed=tuple(str(s["solution_id"]) for s in current if s.get("status") == "proposed"),
            accepted=tuple(str(s["solution_id"]) for s in current if s.get("status") == "accepted"),
            extended=any(e.get("type") == "RegulatoryDeadlineExtended" for e in history),
            regulatory_breached=any(
                e.get("type") == "SlaBreached" and (e.get("data") or {}).get("sla") == REGULATORY_SLA
                for e in history
            ),
        )


def _current_cycle(history: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    last_reopen = max((i for i, e in enumerate(history) if e.get("type") == "ComplaintReopened"), default=-1)
    return list(history[last_reopen + 1 :])


def _parse_time(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def allowed_steps(case: CaseFacts, now: datetime) -> list[str]:
    """The steps the case takes now, in the order a handler works through them."""
    if case.status == "closed":
        if case.closed_at is not None and now - case.closed_at <= REOPEN_WINDOW:
            return ["reopen"]
        return []
    if case.status not in OPEN:
        return []
    s = case.status
    acknowledged = s not in _NOT_YET_ACKNOWLEDGED
    steps: list[str] = []
    if not acknowledged:
        steps.append("acknowledge")
    if acknowledged and s != "answered":
        steps.append("classify")
    if s == "classified" or (s == "acknowledged" and case.classified):
        steps.append("start-investigation")
    if s in {"investigating", "solutions_proposed", "solutions_rejected"}:
        steps.append("propose")
    if case.proposed and s in {"solutions_proposed", "solution_accepted"}:
        steps += ["accept", "reject"]
    if case.accepted:
        steps.append("implement")
    if s in {"investigating", "solutions_rejected", "implemented"}:
        steps.append("answer")
    if s == "answered":
        steps.append("close")
    if acknowledged and s != "answered":
        steps.append("progress-update")
    if case.channel == "in_branch" and not case.customer_left:
        steps.append("customer-left")
    if case.on_hold:
        steps.append("resume")
    elif acknowledged:
        steps.append("hold")
    if case.level != LEVELS[-1]:
        steps.append("escalate")
    if s != "answered" and not case.extended and not case.regulatory_breached:
        steps.append("extend")
    if not case.in_incident:
        steps.append("merge")
    if case.on_hold:
        steps = [step for step in steps if step in ON_HOLD_STEPS]
    return _in_working_order(steps, case)


#: the case's next move first (the form the page opens), the side steps after it
_MAIN_ORDER = (
    "resume", "acknowledge", "start-investigation", "implement", "accept", "reject", "propose", "answer",
    "close", "reopen",
)  # fmt: skip


def _in_working_order(steps: list[str], case: CaseFacts) -> list[str]:
    main = [s for s in _MAIN_ORDER if s in steps]
    if case.status == "acknowledged" and not case.classified and "classify" in steps:
        main.insert(0, "classify")
    return main + [s for s in steps if s not in main]


def answer_outcomes(case: CaseFacts) -> list[str]:
    """``not_upheld`` after an investigation with no solution on the table; else upheld ones."""
    if case.status in {"investigating", "solutions_rejected"}:
        return ["not_upheld"]
    if case.status == "implemented":
        return ["upheld", "partially_upheld"]
    return []


def next_level(level: str) -> str | None:
    index = LEVELS.index(level) if level in LEVELS else 0
    return LEVELS[index + 1] if index + 1 < len(LEVELS) else None
