"""``shared.by_name.replace``: the evolve steps' copy of a frozen state (complaint case, visit,
task, survey, counter, and every ``absorb``) answers what ``dataclasses.replace`` answers, cheaply."""

from __future__ import annotations

import dataclasses
import functools
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest

from services.complaint.state import Complaint, Solution, SolutionStatus
from services.complaint.state import Status as CaseStatus
from services.feedback.domain import Survey, SurveyStatus
from services.followup.decider import Task
from services.reception.decider.state import Status, Visit
from shared.by_name import replace
from shared.contracts.text import TextRef

AT = datetime(2026, 3, 2, 9, tzinfo=UTC)
TEXT = TextRef(context="complaint", text_id=uuid4(), length=3)
SOLUTION = Solution(uuid4(), TEXT, None, "EUR", SolutionStatus.proposed, 1)


@pytest.mark.parametrize(
    ("state", "changes"),
    [
        (Visit(), {"status": Status.queued, "queued_at": AT, "calls": 2}),
        (Task(), {"closed_at": AT, "attempts": 3}),
        (Survey(), {"status": SurveyStatus.answered, "answered_at": AT, "score": 5}),
        (Visit(visit_id=uuid4()), {}),
        (Complaint(), {"status": CaseStatus.acknowledged, "acknowledged_at": AT, "customer_ref": None}),
        (SOLUTION, {"status": SolutionStatus.accepted}),
    ],
)
def test_it_answers_what_dataclasses_replace_answers(state: Any, changes: dict[str, Any]) -> None:
    before = dict(vars(state))
    mine, theirs = replace(state, **changes), dataclasses.replace(state, **changes)
    assert mine == theirs and vars(mine) == vars(theirs) and mine is not state
    assert vars(state) == before, "the original is left as it was"


def test_it_refuses_an_unknown_field_and_stays_frozen() -> None:
    with pytest.raises(TypeError, match="no field"):
        replace(Visit(), no_such_field=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        replace(Visit(), calls=1).calls = 2  # type: ignore[misc]


def test_a_dataclass_it_cannot_copy_goes_through_dataclasses_replace() -> None:
    @dataclasses.dataclass(frozen=True)
    class Counted:
        n: int
        twice: int = dataclasses.field(init=False)

        def __post_init__(self) -> None:
            object.__setattr__(self, "twice", 2 * self.n)

    @dataclasses.dataclass(frozen=True)
    class Cached:
        n: int

        @functools.cached_property
        def square(self) -> int:
            return self.n * self.n

    assert replace(Counted(1), n=3).twice == 6
    cached = Cached(2)
    assert cached.square == 4
    assert replace(cached, n=3).square == 9
