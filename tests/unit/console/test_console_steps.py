"""The case page's buttons come from the complaint service's own answer (``allowed_steps`` in the
case view, computed by its decider): the console keeps only those it has a form for, in working
order, and each is an action of the permission table."""

from __future__ import annotations

from typing import Any

from services.console.steps import STEP_ACTIONS, allowed_steps, answer_outcomes, next_level
from shared.auth import ACTIONS


def view(status: str, allowed: list[str], **extra: Any) -> dict[str, Any]:
    steps = [
        {"step": s, "allowed": s in allowed, "reason": None if s in allowed else "no"} for s in STEP_ACTIONS
    ]
    return {"status": status, "allowed_steps": [*steps, {"step": "decide-review", "allowed": True}], **extra}


def test_only_the_steps_the_service_allows_are_offered() -> None:
    case = view("investigating", ["propose", "answer", "escalate"], classification={"category": "other"})
    assert allowed_steps(case) == ["propose", "answer", "escalate"]
    assert allowed_steps({"status": "investigating"}) == []  # an older service: no buttons, no guessing


def test_the_next_move_comes_first() -> None:
    assert allowed_steps(view("received", ["escalate", "acknowledge"]))[0] == "acknowledge"
    assert allowed_steps(view("acknowledged", ["escalate", "classify", "hold"]))[0] == "classify"
    assert allowed_steps(view("implemented", ["escalate", "answer"]))[0] == "answer"
    assert allowed_steps(view("investigating", ["escalate", "resume"]))[0] == "resume"


def test_steps_without_a_form_are_not_offered() -> None:
    assert "decide-review" not in allowed_steps(view("under_review", []))


def test_answer_outcomes_follow_the_status() -> None:
    assert answer_outcomes({"status": "investigating"}) == ["not_upheld"]
    assert answer_outcomes({"status": "implemented"}) == ["upheld", "partially_upheld"]
    assert answer_outcomes({"status": "closed"}) == []
    assert next_level("lobby_manager") == "branch_head" and next_level("hq_department") is None


def test_every_step_is_an_action_of_the_permission_table() -> None:
    for step, action in STEP_ACTIONS.items():
        assert action in ACTIONS, f"{step}: {action} is not in shared/auth/permissions.py"
