"""us-cfpb as code: a response (substantive or "in progress") within 15 days, final within 60."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from services.complaint import domain as d
from shared.contracts import complaint as ev
from shared.contracts.complaint import InterimKind, Outcome
from tests.support.texts import ref
from tests.unit.complaint.regulation_given import NEW_YORK, US_BRANCH, Case, local

INITIAL = "complaint.initial_response"

DUE = [
    # (why, received, initial response due, final response due) — 24-hour days from receipt
    (
        "over Thanksgiving",
        local(NEW_YORK, 2026, 11, 20),
        local(NEW_YORK, 2026, 12, 5),
        local(NEW_YORK, 2027, 1, 19),
    ),
    (
        "across the end of daylight saving time (the same instant, an hour earlier on the wall)",
        local(NEW_YORK, 2026, 10, 25),
        local(NEW_YORK, 2026, 11, 9, 9),
        local(NEW_YORK, 2026, 12, 24, 9),
    ),
    (
        "from the last day of January",
        local(NEW_YORK, 2027, 1, 31),
        local(NEW_YORK, 2027, 2, 15),
        local(NEW_YORK, 2027, 4, 1, 11),
    ),
]


@pytest.mark.parametrize(("at", "initial", "final"), [c[1:] for c in DUE], ids=[c[0] for c in DUE])
def test_two_clocks_start_at_receipt(at: datetime, initial: datetime, final: datetime) -> None:
    case = Case.received(at, US_BRANCH)
    assert case.due(INITIAL) == initial and case.due() == final
    (received,) = case.events
    assert isinstance(received, ev.ComplaintReceived)
    assert [c.clock for c in received.regulatory_clocks] == ["initial_response", "final_response"]


def test_an_in_progress_response_meets_the_15_days_and_the_final_runs_on() -> None:
    at = local(NEW_YORK, 2026, 11, 20)
    case = Case.received(at, US_BRANCH)
    case.walk_to_investigating(at + timedelta(hours=1))
    (sent,) = case.run(
        d.SendInterimResponse(at + timedelta(days=14), InterimKind.in_progress, ref("reviewing your file"))
    )
    assert isinstance(sent, ev.InterimResponseSent)
    assert [(o.sla, o.within_limit) for o in sent.regulatory_outcomes] == [(INITIAL, True)]
    assert not case.clock(INITIAL).is_open and case.clock().is_open
    case.refused(
        d.SendInterimResponse(at + timedelta(days=15), InterimKind.in_progress, ref("again")), "waits for one"
    )
    case.refused(d.SendInterimResponse(at + timedelta(days=15), InterimKind.holding, ref("x")), "in_progress")
    (answered,) = case.run(d.Answer(at + timedelta(days=40), ref("refund issued"), Outcome.not_upheld))
    assert isinstance(answered, ev.ComplaintAnswered)
    assert [(o.sla, o.counted_days) for o in answered.regulatory_outcomes] == [("complaint.regulatory", 40.0)]


def test_a_substantive_answer_meets_both() -> None:
    at = local(NEW_YORK, 2026, 11, 20)
    case = Case.received(at, US_BRANCH)
    case.walk_to_investigating(at + timedelta(hours=1))
    (answered,) = case.run(d.Answer(at + timedelta(days=3), ref("explained"), Outcome.not_upheld))
    assert isinstance(answered, ev.ComplaintAnswered)
    assert {o.sla for o in answered.regulatory_outcomes} == {INITIAL, "complaint.regulatory"}


def test_waiting_on_the_consumer_does_not_stop_the_cfpb_clocks() -> None:
    at = local(NEW_YORK, 2026, 11, 20)
    case = Case.received(at, US_BRANCH)
    case.walk_to_investigating(at + timedelta(hours=1))
    case.run(
        d.Hold(at + timedelta(days=2), ref("waiting for the consumer's statement")),
        d.Resume(at + timedelta(days=9)),
    )
    assert case.due(INITIAL) == at + timedelta(days=15) and case.due() == at + timedelta(days=60)
    case.refused(d.ExtendRegulatoryDeadline(at + timedelta(days=10), ref("x")), "the most us-cfpb allows")
