"""The counter decider, given / when / then: open, pause with a reason, resume, close, and what a
call does to a closed or paused counter. Pure, no infrastructure."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given as for_any
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
)
from shared.contracts.reception import (
    CounterClosed,
    CounterOpened,
    CounterPaused,
    CounterPauseReason,
    CounterResumed,
)
from tests.support.decider import Scenario, given

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
C = "3"
LUNCH = CounterPauseReason.lunch


def counter(*commands: CounterCommand) -> Scenario[CounterCommand, Counter]:
    """A counter after ``commands`` (``tests.support.decider``)."""
    return given(counter_decider).after(*commands)


OPEN = OpenCounter(counter_id=C, staff_id="t-1", at=T0)


def test_a_counter_opens_pauses_resumes_and_closes() -> None:
    opened = counter().when(OpenCounter(counter_id=C, staff_id="t-1", at=T0, lines=("deposits", "deposits")))
    state = opened.then(CounterOpened(counter_id=C, staff_id="t-1", lines=["deposits"], at=T0)).state
    assert state.status is CounterStatus.open and state.lines == ("deposits",)
    paused = opened.then(CounterOpened).when(
        PauseCounter(counter_id=C, staff_id="t-1", reason=LUNCH, at=T0 + timedelta(hours=3))
    )
    state = paused.then(
        CounterPaused(counter_id=C, staff_id="t-1", reason=LUNCH, at=T0 + timedelta(hours=3))
    ).state
    assert state.status is CounterStatus.paused and state.pause_reason is LUNCH
    resumed = paused.then(CounterPaused).when(
        ResumeCounter(counter_id=C, staff_id="t-2", at=T0 + timedelta(hours=4))
    )
    state = resumed.then(
        CounterResumed(counter_id=C, staff_id="t-2", paused_seconds=3600, at=T0 + timedelta(hours=4))
    ).state
    assert state.status is CounterStatus.open and state.staff_id == "t-2" and state.pause_reason is None
    closed = resumed.then(CounterResumed).when(
        CloseCounter(counter_id=C, staff_id="t-2", at=T0 + timedelta(hours=8))
    )
    state = closed.then(CounterClosed(counter_id=C, staff_id="t-2", at=T0 + timedelta(hours=8))).state
    assert state.status is CounterStatus.closed


@pytest.mark.parametrize(
    ("history", "command", "reason"),
    [
        ((OPEN,), OPEN, "already open"),
        (
            (OPEN, PauseCounter(counter_id=C, staff_id="t-1", reason=LUNCH, at=T0)),
            OPEN,
            "paused (lunch): resume it instead",
        ),
        ((), PauseCounter(counter_id=C, staff_id="t-1", reason=LUNCH, at=T0), "not open"),
        (
            (OPEN, PauseCounter(counter_id=C, staff_id="t-1", reason=LUNCH, at=T0)),
            PauseCounter(counter_id=C, staff_id="t-1", reason=LUNCH, at=T0),
            "already paused",
        ),
        (
            (OPEN,),
            PauseCounter(counter_id=C, staff_id="t-1", reason=LUNCH, at=T0, busy_with="A001"),
            "busy with ticket A001",
        ),
        ((OPEN,), ResumeCounter(counter_id=C, staff_id="t-1", at=T0), "not paused"),
        ((), ResumeCounter(counter_id=C, staff_id="t-1", at=T0), "not paused"),
        ((), CloseCounter(counter_id=C, staff_id="t-1", at=T0), "already closed"),
        (
            (OPEN,),
            CloseCounter(counter_id=C, staff_id="t-1", at=T0, busy_with="A001"),
            "busy with ticket A001",
        ),
        (
            (OPEN, PauseCounter(counter_id=C, staff_id="t-1", reason=LUNCH, at=T0)),
            BeforeCall(counter_id=C, staff_id="t-1", at=T0),
            "resume it before calling",
        ),
    ],
)
def test_what_is_refused_and_why(
    history: tuple[CounterCommand, ...], command: CounterCommand, reason: str
) -> None:
    counter(*history).when(command).then_raises(re.escape(reason))


def test_a_call_from_a_closed_counter_opens_it_implicitly() -> None:
    implicit = CounterOpened(counter_id=C, staff_id="t-1", implicit=True, at=T0)
    counter().when(BeforeCall(counter_id=C, staff_id="t-1", at=T0)).then(implicit)
    counter(OPEN, CloseCounter(counter_id=C, staff_id="t-1", at=T0)).when(
        BeforeCall(counter_id=C, staff_id="t-1", at=T0)
    ).then(implicit)
    counter(OPEN).when(BeforeCall(counter_id=C, staff_id="t-1", at=T0)).then()


def test_a_paused_counter_may_close_when_nobody_is_at_it() -> None:
    counter(OPEN, PauseCounter(counter_id=C, staff_id="t-1", reason=LUNCH, at=T0)).when(
        CloseCounter(counter_id=C, staff_id="t-1", at=T0)
    ).then(CounterClosed(counter_id=C, staff_id="t-1", at=T0))


commands = st.sampled_from(
    [
        OPEN,
        PauseCounter(counter_id=C, staff_id="t-1", reason=LUNCH, at=T0),
        PauseCounter(counter_id=C, staff_id="t-1", reason=LUNCH, at=T0, busy_with="A001"),
        ResumeCounter(counter_id=C, staff_id="t-1", at=T0),
        CloseCounter(counter_id=C, staff_id="t-1", at=T0),
        CloseCounter(counter_id=C, staff_id="t-1", at=T0, busy_with="A001"),
        BeforeCall(counter_id=C, staff_id="t-1", at=T0),
    ]
)


@for_any(st.lists(commands, max_size=30))
def test_any_sequence_keeps_the_state_consistent(sequence: list[CounterCommand]) -> None:
    """Whatever staff press, a counter is in one state, a paused one has its reason, and only an
    open counter lets a call through."""
    scenario = counter()
    for command in sequence:
        before = scenario.state
        step = scenario.when(command)
        if step.error is not None:
            continue
        scenario = step.then(*step.events)
        state = step.state
        if isinstance(command, BeforeCall):
            assert before.status is not CounterStatus.paused
            assert state.status is CounterStatus.open
        assert (state.pause_reason is not None) == (state.status is CounterStatus.paused)


def test_a_counter_left_open_overnight_opens_anew_the_next_day() -> None:
    yesterday = counter(OpenCounter(counter_id=C, staff_id="t-1", at=T0, lines=("loans",)))
    tomorrow = T0 + timedelta(days=1)
    day_start = tomorrow.replace(hour=0)
    yesterday.when(
        OpenCounter(counter_id=C, staff_id="t-2", at=tomorrow, lines=(), day_start=day_start)
    ).then(CounterOpened(counter_id=C, staff_id="t-2", at=tomorrow))
    today = yesterday.when(BeforeCall(counter_id=C, staff_id="t-2", at=tomorrow, day_start=day_start)).then(
        CounterOpened(counter_id=C, staff_id="t-2", lines=["loans"], implicit=True, at=tomorrow)
    )
    today.when(BeforeCall(counter_id=C, staff_id="t-2", at=tomorrow, day_start=day_start)).then()
    today.when(
        OpenCounter(counter_id=C, staff_id="t-2", at=tomorrow, lines=(), day_start=day_start)
    ).then_raises("already open")
