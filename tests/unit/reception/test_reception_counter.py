"""The counter decider, given / when / then: open, pause with a reason, resume, close, and what a
call does to a closed or paused counter. Pure, no infrastructure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.reception.counter import (
    BeforeCall,
    CloseCounter,
    Counter,
    CounterCommand,
    CounterStatus,
    OpenCounter,
    PauseCounter,
    ResumeCounter,
    counter_decider,
    decide,
    evolve,
)
from shared.contracts.reception import (
    CounterClosed,
    CounterOpened,
    CounterPaused,
    CounterPauseReason,
    CounterResumed,
)
from shared.decider import DomainError

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
C = "3"
LUNCH = CounterPauseReason.lunch


def given_(*commands: CounterCommand) -> Counter:
    state = Counter()
    for command in commands:
        for event in decide(state, command):
            state = evolve(state, event)
    return state


OPEN = OpenCounter(C, "t-1", T0)


def test_a_counter_opens_pauses_resumes_and_closes() -> None:
    opened = decide(Counter(), OpenCounter(C, "t-1", T0, ("deposits", "deposits")))
    assert opened == [CounterOpened(counter_id=C, staff_id="t-1", lines=["deposits"], at=T0)]
    state = counter_decider.fold(opened)
    assert state.status is CounterStatus.open and state.lines == ("deposits",)
    paused = decide(state, PauseCounter(C, "t-1", LUNCH, T0 + timedelta(hours=3)))
    assert paused == [CounterPaused(counter_id=C, staff_id="t-1", reason=LUNCH, at=T0 + timedelta(hours=3))]
    state = counter_decider.fold(paused, state)
    assert state.status is CounterStatus.paused and state.pause_reason is LUNCH
    resumed = decide(state, ResumeCounter(C, "t-2", T0 + timedelta(hours=4)))
    assert resumed == [
        CounterResumed(counter_id=C, staff_id="t-2", paused_seconds=3600, at=T0 + timedelta(hours=4))
    ]
    state = counter_decider.fold(resumed, state)
    assert state.status is CounterStatus.open and state.staff_id == "t-2" and state.pause_reason is None
    closed = decide(state, CloseCounter(C, "t-2", T0 + timedelta(hours=8)))
    assert closed == [CounterClosed(counter_id=C, staff_id="t-2", at=T0 + timedelta(hours=8))]
    assert counter_decider.fold(closed, state).status is CounterStatus.closed


@pytest.mark.parametrize(
    ("history", "command", "reason"),
    [
        ((OPEN,), OPEN, "already open"),
        ((OPEN, PauseCounter(C, "t-1", LUNCH, T0)), OPEN, "paused (lunch): resume it instead"),
        ((), PauseCounter(C, "t-1", LUNCH, T0), "not open"),
        ((OPEN, PauseCounter(C, "t-1", LUNCH, T0)), PauseCounter(C, "t-1", LUNCH, T0), "already paused"),
        ((OPEN,), PauseCounter(C, "t-1", LUNCH, T0, busy_with="A001"), "busy with ticket A001"),
        ((OPEN,), ResumeCounter(C, "t-1", T0), "not paused"),
        ((), ResumeCounter(C, "t-1", T0), "not paused"),
        ((), CloseCounter(C, "t-1", T0), "already closed"),
        ((OPEN,), CloseCounter(C, "t-1", T0, busy_with="A001"), "busy with ticket A001"),
        ((OPEN, PauseCounter(C, "t-1", LUNCH, T0)), BeforeCall(C, "t-1", T0), "resume it before calling"),
    ],
)
def test_what_is_refused_and_why(
    history: tuple[CounterCommand, ...], command: CounterCommand, reason: str
) -> None:
    with pytest.raises(DomainError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        decide(given_(*history), command)


def test_a_call_from_a_closed_counter_opens_it_implicitly() -> None:
    assert decide(Counter(), BeforeCall(C, "t-1", T0)) == [
        CounterOpened(counter_id=C, staff_id="t-1", implicit=True, at=T0)
    ]
    closed = given_(OPEN, CloseCounter(C, "t-1", T0))
    assert decide(closed, BeforeCall(C, "t-1", T0))[0].implicit is True  # type: ignore[attr-defined]
    assert decide(given_(OPEN), BeforeCall(C, "t-1", T0)) == []


def test_a_paused_counter_may_close_when_nobody_is_at_it() -> None:
    paused = given_(OPEN, PauseCounter(C, "t-1", LUNCH, T0))
    assert decide(paused, CloseCounter(C, "t-1", T0)) == [CounterClosed(counter_id=C, staff_id="t-1", at=T0)]


commands = st.sampled_from(
    [
        OPEN,
        PauseCounter(C, "t-1", LUNCH, T0),
        PauseCounter(C, "t-1", LUNCH, T0, busy_with="A001"),
        ResumeCounter(C, "t-1", T0),
        CloseCounter(C, "t-1", T0),
        CloseCounter(C, "t-1", T0, busy_with="A001"),
        BeforeCall(C, "t-1", T0),
    ]
)


@given(st.lists(commands, max_size=30))
def test_any_sequence_keeps_the_state_consistent(sequence: list[CounterCommand]) -> None:
    """Whatever staff press, a counter is in one state, a paused one has its reason, and only an
    open counter lets a call through."""
    state = Counter()
    for command in sequence:
        try:
            events = decide(state, command)
        except DomainError:
            continue
        if isinstance(command, BeforeCall):
            assert state.status is not CounterStatus.paused
        for event in events:
            state = evolve(state, event)
        if isinstance(command, BeforeCall):
            assert state.status is CounterStatus.open
        assert (state.pause_reason is not None) == (state.status is CounterStatus.paused)


def test_a_counter_left_open_overnight_opens_anew_the_next_day() -> None:
    yesterday = given_(OpenCounter(C, "t-1", T0, ("loans",)))
    tomorrow = T0 + timedelta(days=1)
    day_start = tomorrow.replace(hour=0)
    reopened = decide(yesterday, OpenCounter(C, "t-2", tomorrow, (), day_start))
    assert reopened == [CounterOpened(counter_id=C, staff_id="t-2", at=tomorrow)]
    by_call = decide(yesterday, BeforeCall(C, "t-2", tomorrow, day_start))
    assert by_call == [
        CounterOpened(counter_id=C, staff_id="t-2", lines=["loans"], implicit=True, at=tomorrow)
    ]
    today = counter_decider.fold(by_call, yesterday)
    assert decide(today, BeforeCall(C, "t-2", tomorrow, day_start)) == []
    with pytest.raises(DomainError, match="already open"):
        decide(today, OpenCounter(C, "t-2", tomorrow, (), day_start))
