"""``shared.by_name.replace``, the evolve steps' copy of the case, is ``dataclasses.replace`` made cheap."""

from __future__ import annotations

import dataclasses
import functools
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from services.complaint.state import Complaint, Solution, SolutionStatus, Status
from shared.by_name import replace
from shared.contracts.text import TextRef


def test_it_answers_what_dataclasses_replace_answers() -> None:
    case = Complaint(status=Status.received, complaint_id=uuid4(), customer_ref="cust_ref_1")
    at = datetime(2026, 1, 5, 9, tzinfo=UTC)
    for changes in ({}, {"status": Status.acknowledged, "acknowledged_at": at}, {"customer_ref": None}):
        mine, theirs = replace(case, **changes), dataclasses.replace(case, **changes)
        assert mine == theirs and mine is not case
        assert vars(mine) == vars(theirs)
    assert case.status is Status.received, "the original is left as it was"
    text = TextRef(context="complaint", text_id=uuid4(), length=3)
    solution = Solution(uuid4(), text, None, "EUR", SolutionStatus.proposed, 1)
    assert replace(solution, status=SolutionStatus.accepted) == dataclasses.replace(
        solution, status=SolutionStatus.accepted
    )


def test_it_refuses_an_unknown_field_and_stays_frozen() -> None:
    with pytest.raises(TypeError, match="no field"):
        replace(Complaint(), no_such_field=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        replace(Complaint(), status=Status.received).status = Status.closed  # type: ignore[misc]


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
