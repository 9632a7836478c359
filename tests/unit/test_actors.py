"""One name for the SLA clock; older stored names still read as the system, never as staff."""

from __future__ import annotations

import pytest

from shared.actors import LEGACY_SLA_CLOCK, SLA_CLOCK, is_system, staff_actor


def test_the_sla_clock_is_a_system_actor() -> None:
    assert is_system(SLA_CLOCK)
    assert staff_actor(SLA_CLOCK) is None


@pytest.mark.parametrize("legacy", sorted(LEGACY_SLA_CLOCK))
def test_names_stored_before_stay_system_actors(legacy: str) -> None:
    assert is_system(legacy)
    assert staff_actor(legacy) is None


@pytest.mark.parametrize(
    ("actor", "staff"),
    [
        ("lm-7", "lm-7"),
        ("anonymous", None),
        ("system:complaint", None),
        ("System", None),
        ("a b", None),
        ("", None),
    ],
)
def test_staff_are_told_from_the_system(actor: str, staff: str | None) -> None:
    assert staff_actor(actor) == staff


def test_every_service_writes_the_one_name() -> None:
    from services.complaint.app import SLA_ACTOR as complaint
    from services.reception.app import SLA_ACTOR as reception

    assert complaint == reception == SLA_CLOCK
