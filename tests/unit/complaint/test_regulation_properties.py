"""Properties of the regulatory clocks, over any sequence of commands under any profile:

- a deadline is never earlier than its rule allows (start + limit + the time paused before it; a
  business-day limit ends at local midnight after exactly ``limit`` business days);
- a pause moves every open deadline not yet due by exactly the paused time (those its rule
  stops), and no other;
- replaying the case's events gives the same clocks, hence the same deadlines, as the live state.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from uuid import UUID

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.complaint import domain as d
from services.complaint.regclocks import RegClock, business_days_between
from shared.contracts import complaint as ev
from shared.contracts.complaint import (
    Category,
    Channel,
    HoldKind,
    InterimKind,
    LimitUnit,
    Nature,
    Outcome,
    RemediationAction,
    ResponseKind,
    ReviewOutcome,
    Urgency,
)
from shared.decider import DomainError
from shared.registry import EventData
from tests.support.texts import ref
from tests.unit.complaint.regulation_given import (
    CN_BRANCH,
    LONDON,
    MATH,
    REGULATION,
    SHANGHAI,
    UK_BRANCH,
    US_BRANCH,
    Case,
    local,
)

Make = Callable[[datetime], d.Command]
STAFF = ["lm-1", "lm-2", "head-1"]
BUSINESS_TYPES = [None, "payment_services", "savings", "credit_card", "deposits"]

HOLD = st.builds(lambda k: lambda t: d.Hold(t, ref("waiting"), k), st.sampled_from(list(HoldKind)))
RESUME: st.SearchStrategy[Make] = st.just(lambda t: d.Resume(t))
EXTEND: st.SearchStrategy[Make] = st.just(lambda t: d.ExtendRegulatoryDeadline(t, ref("complex")))
REQUEST = st.builds(
    lambda who: lambda t: d.RequestExtension(t, ref("very complex"), who, UUID(int=7)), st.sampled_from(STAFF)
)
DECIDE = st.builds(
    lambda ok, who: lambda t: d.DecideExtension(t, ok, who, ref("because")),
    st.sampled_from([True, True, True, False]),
    st.sampled_from(STAFF),
)
MATERIAL: st.SearchStrategy[Make] = st.just(lambda t: d.RecordNewMaterial(t, ref("new statement")))
REPEAT = st.builds(
    lambda nf: lambda t: d.RecordRepeat(t, Channel.app, "cust_ref_0001", ref("again"), "m-1", None, nf),
    st.booleans(),
)
CLASSIFY = st.builds(
    lambda bt: lambda t: d.Classify(t, Category.other, Nature.general, "web", Urgency.normal, bt),
    st.sampled_from(BUSINESS_TYPES),
)
INTERIM = st.builds(
    lambda k, o: lambda t: d.SendInterimResponse(t, k, ref("update"), o),
    st.sampled_from(list(InterimKind)),
    st.sampled_from([True, True, False]),
)
ANSWER = st.builds(
    lambda kind: lambda t: d.Answer(t, ref("decided"), Outcome.not_upheld, kind, True),
    st.sampled_from([None, ResponseKind.final, ResponseKind.summary_resolution]),
)
CLOSE: st.SearchStrategy[Make] = st.just(
    lambda t: d.Close(
        t,
        ref("done"),
        root_cause=ref("rc"),
        remediation_actions=(
            RemediationAction(
                action_id=UUID(int=9), description=ref("fix"), owner="ops", due_at=t + timedelta(days=9)
            ),
        ),
    )
)
REOPEN: st.SearchStrategy[Make] = st.just(lambda t: d.Reopen(t, ref("again")))
REVIEW: st.SearchStrategy[Make] = st.just(lambda t: d.RequestReview(t, ref("disagree")))
DECIDE_REVIEW = st.builds(
    lambda o: lambda t: d.DecideReview(t, o, ref("reviewed")), st.sampled_from(list(ReviewOutcome))
)
#: weights: the paths with rules (holds, extensions, approvals, reviews) come up often
WEIGHTED: list[tuple[int, st.SearchStrategy[Make]]] = [
    (3, HOLD), (4, RESUME), (3, EXTEND), (3, REQUEST), (4, DECIDE), (1, MATERIAL), (1, REPEAT), (1, CLASSIFY),
    (2, INTERIM), (2, ANSWER), (1, CLOSE), (1, REOPEN), (2, REVIEW), (1, DECIDE_REVIEW),
]  # fmt: skip
COMMANDS: st.SearchStrategy[Make] = st.sampled_from(
    [strategy for weight, strategy in WEIGHTED for _ in range(weight)]
).flatmap(lambda strategy: strategy)
STEPS = st.lists(
    st.tuples(COMMANDS, st.integers(min_value=0, max_value=60 * 24 * 4)), min_size=8, max_size=40
)
STARTS = st.sampled_from(
    [
        (CN_BRANCH, local(SHANGHAI, 2026, 9, 25, 16)),
        (CN_BRANCH, local(SHANGHAI, 2026, 1, 31, 23)),
        (UK_BRANCH, local(LONDON, 2026, 3, 20, 17)),
        (UK_BRANCH, local(LONDON, 2026, 12, 18, 9)),
        (US_BRANCH, local(SHANGHAI, 2026, 10, 30, 8)),
    ]
)


def play(branch: str, start: datetime, steps: list[tuple[Make, int]], business_type: str | None) -> Case:
    if REGULATION.profile_for_branch(branch).check_code("business_types", business_type):
        business_type = None  # not in this profile's code table (a refused receipt proves nothing)
    case = Case.received(start, branch, business_type=business_type, matter_key="m-1")
    case.walk_to_investigating(start + timedelta(minutes=1))
    now = start + timedelta(minutes=1)
    for make, minutes in steps:
        now += timedelta(minutes=minutes)
        try:
            case.run(make(now))
        except DomainError:
            continue
        for clock in case.state.clocks.current:
            check_lower_bound(clock)
    return case


def check_lower_bound(clock: RegClock) -> None:
    due = MATH.due(clock)
    if clock.unit is LimitUnit.days:
        # paused time counts while the limit runs; a pause from the moment it is up moves nothing
        paused = sum((min(hi, due) - lo for lo, hi in clock.closed_pauses() if lo < due), timedelta(0))
        assert due >= clock.started_at + timedelta(days=clock.limit) + paused
        assert due - clock.started_at - paused == timedelta(days=clock.limit)
        return
    calendar = REGULATION.calendar(clock.calendar)
    weekdays = REGULATION.profile(clock.profile).business_weekdays
    local_due = due.astimezone(calendar.tz)
    assert (local_due.hour, local_due.minute) == (0, 0)  # the end of a day
    assert due - clock.started_at >= timedelta(days=clock.limit)  # a business day is a whole day
    assert (
        business_days_between(clock.started_at, due - timedelta(microseconds=1), calendar, weekdays)
        == clock.limit
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(start=STARTS, steps=STEPS, business_type=st.sampled_from(BUSINESS_TYPES))
def test_a_deadline_is_never_earlier_than_the_rule_allows_and_replay_gives_the_same(
    start: tuple[str, datetime], steps: list[tuple[Make, int]], business_type: str | None
) -> None:
    case = play(*start, steps, business_type)
    replayed = case.decider.fold(case.events)
    assert replayed == case.state
    assert [MATH.due(c) for c in replayed.clocks.current] == [MATH.due(c) for c in case.state.clocks.current]
    # every event round-trips through its JSON form (what the store and Kafka carry)
    for event in case.events:
        assert type(event).model_validate_json(event.model_dump_json()) == event


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    start=STARTS,
    steps=STEPS,
    business_type=st.sampled_from(BUSINESS_TYPES),
    kind=st.sampled_from(list(HoldKind)),
    paused_minutes=st.integers(min_value=0, max_value=60 * 24 * 20),
)
def test_a_pause_moves_every_open_deadline_by_exactly_the_paused_time(
    start: tuple[str, datetime],
    steps: list[tuple[Make, int]],
    business_type: str | None,
    kind: HoldKind,
    paused_minutes: int,
) -> None:
    case = play(*start, steps, business_type)
    if case.state.on_hold:
        case.run(d.Resume(case.state.held_since or start[1]))
    now = max([e.at for e in case.events if hasattr(e, "at")] + [start[1]])  # type: ignore[attr-defined]
    before = {c.sla: (MATH.due(c), c) for c in case.state.clocks.open()}
    try:
        case.run(d.Hold(now, ref("waiting"), kind))
    except DomainError:
        return
    paused = timedelta(minutes=paused_minutes)
    case.run(d.Resume(now + paused))
    for sla, (due, clock) in before.items():
        moved = MATH.due(case.clock(sla)) - due
        # a deadline already passed when the pause began stays where it was: its time was up
        stopped = kind in clock.pauses_on and due > now
        assert moved == (paused if stopped else timedelta(0)), (sla, clock.profile)


def test_the_events_of_a_case_carry_every_clock_they_start() -> None:
    case = play(UK_BRANCH, local(LONDON, 2026, 3, 20, 17), [], "payment_services")
    starts = [c for e in case.events for c in getattr(e, "regulatory_clocks", [])]
    assert [c.clock for c in starts] == ["payment_services"]
    assert isinstance(case.events[0], ev.ComplaintReceived)
    _ = list[EventData]
