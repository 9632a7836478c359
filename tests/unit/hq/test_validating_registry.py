"""HQ's runner validates contract events at their current version without re-serialising them, and
still refuses what the contract refuses (the runner then dead-letters it)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest
from pydantic import ValidationError

from services.hq.consumer import ValidatingRegistry
from shared.contracts.hqfeed import BranchKpisDelta
from shared.envelope import Envelope
from shared.registry import UnknownEventType

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def envelope(data: dict[str, object], version: int = 1, type_: str = "BranchKpisDelta") -> Envelope:
    return Envelope(
        event_id=uuid4(),
        type=type_,
        schema_version=version,
        stream_id="hqfeed:b001",
        stream_version=1,
        branch_id="b001",
        occurred_at=T0,
        recorded_at=T0,
        correlation_id=uuid4(),
        actor="system:hqfeed",
        data=data,
    )


def test_a_valid_current_event_passes_unchanged() -> None:
    data = BranchKpisDelta(branch_id="b001", first_event_at=T0, last_event_at=T0).model_dump(
        mode="json", exclude_defaults=True
    )
    env = envelope(data)
    assert ValidatingRegistry().upcast(env) is env


AT = "2026-03-02T02:00:00Z"
OK = {"branch_id": "b001", "first_event_at": AT, "last_event_at": AT}


@pytest.mark.parametrize(
    "bad",
    [
        {"branch_id": "b001", "first_event_at": AT},  # a required field missing
        {**OK, "branch_id": "Zhang San 13800138000"},  # words where a code belongs
        {**OK, "days": [{"day": "2026-03-02", "counters": {"a note about the customer": 1}}]},  # no counter
        {**OK, "note": "free text"},  # an unknown field
    ],
)
def test_what_the_contract_refuses_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ValidatingRegistry().upcast(envelope(bad))


def test_unknown_types_and_newer_versions_are_refused() -> None:
    with pytest.raises(UnknownEventType):
        ValidatingRegistry().upcast(envelope({}, type_="VisitArrivedForged"))
    with pytest.raises(UnknownEventType):
        ValidatingRegistry().upcast(envelope({}, version=2))
