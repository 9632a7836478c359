"""The case view's allowed steps, asked of the decider's refusals (``ComplaintDecider.refusal``:
its guards and handler checks, no events built), are exactly what replaying every probe through
``decide`` gives: for every state a case reaches by any sequence of commands, with or without a
regulatory profile, and at any time after its last event (reopen windows, review windows and
regulatory limits that pass)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from uuid import UUID

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.complaint import domain as d
from services.complaint.decider import ComplaintDecider
from services.complaint.decider.steps import STEPS, allowed_steps, replaying
from shared.contracts.complaint import (
    Category,
    Channel,
    HoldKind,
    InterimKind,
    Nature,
    Outcome,
    ProposedSolution,
    ResponseKind,
    Urgency,
)
from shared.decider import DomainError
from shared.registry import EventData
from tests.support.texts import ref
from tests.unit.complaint.regulation_given import (
    BOOK,
    CN_BRANCH,
    LONDON,
    REGULATION,
    SHANGHAI,
    UK_BRANCH,
    US_BRANCH,
    local,
)

Make = Callable[[d.Complaint, datetime], list[d.Command]]
SOLUTIONS = [UUID(int=1), UUID(int=2), UUID(int=3)]
STAFF = ["lm-1", "lm-2"]


def probe(step: str) -> Make:
    """The view's own probe of ``step`` as a move (the commands staff would send)."""

    def make(state: d.Complaint, t: datetime) -> list[d.Command]:
        commands = STEPS[step](state, t)
        return [] if isinstance(commands, str) else commands

    return make


def one(build: Callable[[datetime], d.Command]) -> Make:
    return lambda state, t: [build(t)]


def breach(sla: str) -> Make:
    facts = d.SlaFacts(UUID(int=50), sla, "policy", datetime(2026, 1, 1, tzinfo=LONDON), datetime(2026, 1, 2))
    return one(lambda t: d.RecordSlaBreached(t, facts))


OTHER: list[Make] = [
    one(lambda t: d.Classify(t, Category.other, Nature.major, "web", Urgency.urgent)),
    one(lambda t: d.Classify(t, Category.other, Nature.general, "web", Urgency.normal, "payment_services")),
    *[
        one(
            lambda t, i=i: d.ProposeSolutions(
                t, (ProposedSolution(solution_id=SOLUTIONS[i], description=ref("s")),)
            )
        )
        for i in range(len(SOLUTIONS))
    ],
    *[one(lambda t, s=s: d.AcceptSolution(t, s)) for s in SOLUTIONS],
    *[one(lambda t, s=s: d.RejectSolution(t, s, ref("no"))) for s in SOLUTIONS],
    *[one(lambda t, s=s: d.ImplementSolution(t, s)) for s in SOLUTIONS],
    one(lambda t: d.Answer(t, ref("decided"), Outcome.not_upheld, ResponseKind.summary_resolution, True)),
    one(lambda t: d.Hold(t, ref("waiting"), HoldKind.external_appraisal)),
    *[one(lambda t, w=w: d.RequestExtension(t, ref("complex"), w, UUID(int=7))) for w in STAFF],
    *[
        one(lambda t, ok=ok, w=w: d.DecideExtension(t, ok, w, ref("ok")))
        for ok in (True, False)
        for w in STAFF
    ],
    *[one(lambda t, k=k: d.SendInterimResponse(t, k, ref("update"), True)) for k in InterimKind],
    one(lambda t: d.RecordNewMaterial(t, ref("new"))),
    breach(d.REGULATORY_SLA),
    breach(d.RESOLVE_SLA),
]
MOVES: list[Make] = [probe(step) for step in STEPS] + OTHER
#: minutes between commands: often none, sometimes days (windows and limits pass)
GAPS = st.one_of(st.integers(0, 90), st.integers(0, 60 * 24 * 45))
#: each step of a walk: which of the commands the case takes then (an index; often 0, the next
#: step of the lifecycle, so that walks reach answers, closes, reopens and reviews), after a gap
WALKS = st.lists(st.tuples(st.one_of(st.just(0), st.integers(0, 10_000)), GAPS), min_size=1, max_size=40)
STARTS = st.sampled_from(
    [
        (CN_BRANCH, local(SHANGHAI, 2026, 9, 25, 16)),
        (UK_BRANCH, local(LONDON, 2026, 12, 18, 9)),
        (US_BRANCH, local(SHANGHAI, 2026, 10, 30, 8)),
    ]
)


def received(regulated: bool, branch: str, start: datetime, channel: Channel) -> d.ReceiveComplaint:
    return d.ReceiveComplaint(
        complaint_id=UUID(int=99),
        channel=channel,
        customer_ref="cust_ref_0001",
        description=ref("the fee was charged twice"),
        received_at=start,
        profile=REGULATION.profile_for_branch(branch).name if regulated else None,
        calendar=BOOK.branch_calendars.get(branch, BOOK.default_calendar),
    )


def taking(judge: ComplaintDecider, state: d.Complaint, command: d.Command) -> Sequence[EventData]:
    try:
        return judge.decide(state, command)
    except DomainError:
        return ()


def nonempty(judge: ComplaintDecider, state: d.Complaint, t: datetime) -> list[Sequence[EventData]]:
    return [events for events in (taking(judge, state, c) for m in MOVES for c in m(state, t)) if events]


def same_steps(judge: ComplaintDecider, state: d.Complaint, now: datetime) -> None:
    fast = allowed_steps(judge.refusal, state, now)
    assert fast == allowed_steps(replaying(judge.decide), state, now), (state.status, now)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    regulated=st.booleans(),
    start=STARTS,
    channel=st.sampled_from([Channel.in_branch, Channel.web]),
    walk=WALKS,
    later=st.lists(GAPS, min_size=1, max_size=3),
)
def test_the_refusals_give_the_steps_the_replay_gives(
    regulated: bool,
    start: tuple[str, datetime],
    channel: Channel,
    walk: list[tuple[int, int]],
    later: list[int],
) -> None:
    branch, t = start
    judge = ComplaintDecider(d.DEFAULT_RULES, REGULATION if regulated else None)
    state = d.complaint_decider.fold(judge.decide(d.Complaint(), received(regulated, branch, t, channel)))
    same_steps(judge, state, t)
    for choice, gap in walk:
        t += timedelta(minutes=gap)
        # the walk goes on through what the case takes (most moves are refused); 0: the first
        # that moves the case on
        taken = [d.complaint_decider.fold(events, state) for events in nonempty(judge, state, t)]
        onward = [after for after in taken if after.status is not state.status]
        if choice == 0 and onward:
            state = onward[0]
        elif taken:
            state = taken[choice % len(taken)]
        same_steps(judge, state, t)
    for gap in later:  # the same state, asked later
        t += timedelta(minutes=gap)
        same_steps(judge, state, t)


def test_an_unknown_command_is_refused_alike() -> None:
    judge = ComplaintDecider()
    assert judge.refusal(d.Complaint(), object()) == replaying(judge.decide)(d.Complaint(), object())  # type: ignore[arg-type]
