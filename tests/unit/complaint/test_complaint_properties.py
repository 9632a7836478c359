"""Property tests: any sequence of commands keeps the complaint's invariants."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from hypothesis import HealthCheck, given, settings
from hypothesis import event as note_coverage
from hypothesis import strategies as st

from services.complaint import domain as d
from services.complaint.decider.folding import EVOLVE
from shared.contracts import complaint as ev
from shared.contracts.complaint import Category, Channel, HoldKind, Level, Nature, Outcome, Urgency
from shared.contracts.sla import SlaBreached
from shared.decider import DomainError
from shared.registry import EventData
from tests.support.texts import ref
from tests.unit.complaint.complaint_given import CID, T0, receive

SOLUTION_IDS = [UUID(int=i) for i in range(1, 5)]
DEADLINE_IDS = [UUID(int=100 + i) for i in range(3)]

solution_ids = st.sampled_from(SOLUTION_IDS)
levels = st.one_of(st.none(), st.sampled_from(list(Level)))
slas = st.sampled_from(
    [d.RESOLVE_SLA, d.REGULATORY_SLA, "complaint.acknowledge", "complaint.progress_update"]
)


def facts(deadline_id: UUID, sla: str) -> d.SlaFacts:
    return d.SlaFacts(deadline_id, sla, "default", T0, T0 + timedelta(hours=24))


# each strategy builds a command given its time
COMMANDS = st.one_of(
    st.builds(lambda: lambda t: d.Acknowledge(t, ref("sorry"))),
    st.builds(
        lambda c, n, u: lambda t: d.Classify(t, c, n, "walk_in", u),
        st.sampled_from(list(Category)),
        st.sampled_from(list(Nature)),
        st.sampled_from(list(Urgency)),
    ),
    st.builds(lambda: lambda t: d.StartInvestigation(t)),
    st.builds(
        lambda ids: (
            lambda t: d.ProposeSolutions(
                t, tuple(ev.ProposedSolution(solution_id=i, description=ref("s")) for i in ids)
            )
        ),
        st.lists(solution_ids, min_size=0, max_size=3),
    ),
    st.builds(lambda i: lambda t: d.AcceptSolution(t, i), solution_ids),
    st.builds(lambda i: lambda t: d.RejectSolution(t, i, ref("no")), solution_ids),
    st.builds(lambda i: lambda t: d.ImplementSolution(t, i), solution_ids),
    st.builds(lambda o: lambda t: d.Answer(t, ref("answer"), o), st.sampled_from(list(Outcome))),
    st.builds(
        lambda rc: lambda t: d.Close(t, ref("closed"), None, rc, rc),
        st.one_of(st.none(), st.just(ref("cause"))),
    ),
    st.builds(lambda: lambda t: d.Reopen(t, ref("again"))),
    st.builds(lambda k: lambda t: d.Hold(t, ref("waiting"), k), st.sampled_from(list(HoldKind))),
    st.builds(lambda: lambda t: d.Resume(t)),
    st.builds(lambda lv: lambda t: d.Escalate(t, ref("why"), lv), levels),
    st.builds(
        lambda i: lambda t: d.MergeIntoIncident(t, i, ref("outage")), st.sampled_from(SOLUTION_IDS[:2])
    ),
    st.builds(lambda: lambda t: d.RecordCustomerLeft(t)),
    st.builds(lambda: lambda t: d.GiveProgressUpdate(t, ref("update"))),
    st.builds(lambda: lambda t: d.ExtendRegulatoryDeadline(t, ref("complex"))),
    st.builds(
        lambda i: lambda t: d.HandleFailedVerification(t, ref("not done"), i), st.sampled_from(DEADLINE_IDS)
    ),
    st.builds(
        lambda i, s, f: lambda t: d.RecordSlaAtRisk(t, facts(i, s), f),
        st.sampled_from(DEADLINE_IDS),
        slas,
        st.sampled_from([0.6667, 0.8]),
    ),
    st.builds(
        lambda i, s: lambda t: d.RecordSlaBreached(t, facts(i, s)), st.sampled_from(DEADLINE_IDS), slas
    ),
)


def advance(state: d.Complaint, t: datetime) -> d.Command:
    """The next command along the main line, so that random walks also reach the later stages."""
    pending = state.current_solutions(d.SolutionStatus.proposed)
    accepted = state.current_solutions(d.SolutionStatus.accepted)
    match state.status:
        case _ if state.on_hold:
            return d.Resume(t)
        case d.Status.received | d.Status.reopened:
            return d.Acknowledge(t)
        case d.Status.acknowledged if state.classification is None:
            return d.Classify(t, Category.other, Nature.major, "walk_in", Urgency.normal)
        case d.Status.acknowledged | d.Status.classified:
            return d.StartInvestigation(t)
        case d.Status.investigating | d.Status.solutions_rejected:
            fresh = [i for i in SOLUTION_IDS + EXTRA_IDS if state.solution(i) is None][:2]
            solutions = tuple(ev.ProposedSolution(solution_id=i, description=ref("s")) for i in fresh)
            return d.ProposeSolutions(t, solutions)
        case d.Status.solutions_proposed:
            return d.AcceptSolution(t, pending[0].solution_id)
        case d.Status.solution_accepted:
            return d.ImplementSolution(t, accepted[0].solution_id)
        case d.Status.implemented:
            return d.Answer(t, ref("done"))
        case d.Status.answered:
            return d.Close(t, ref("closed"), True, ref("cause"), ref("remedy"))
        case _:
            return d.Reopen(t, ref("again"))


EXTRA_IDS = [UUID(int=200 + i) for i in range(40)]
#: two times in three the next main-line command, else any command at all
ADVANCE_OR_ANY = st.tuples(st.integers(0, 2), COMMANDS).map(lambda p: advance if p[0] < 2 else p[1])

steps = st.lists(
    # a command (or "advance along the main line"), and the minutes since the last step
    st.tuples(ADVANCE_OR_ANY, st.integers(min_value=0, max_value=60 * 24 * 12)),
    min_size=5,
    max_size=80,
)
channels = st.sampled_from(list(Channel))


def check_step(before: d.Complaint, command: d.Command, events: list[EventData], after: d.Complaint) -> None:
    # closed cases accept nothing but a reopen (also the reopen a failed verification causes)
    if before.status is d.Status.closed:
        assert [type(e) for e in events] == [ev.ComplaintReopened]
        assert isinstance(command, d.Reopen | d.HandleFailedVerification)
    # escalation never goes down, and one level at a time
    assert d.LEVELS.index(after.level) >= d.LEVELS.index(before.level)
    assert d.LEVELS.index(after.level) - d.LEVELS.index(before.level) <= 1
    for event in events:
        if isinstance(event, ev.SolutionImplemented):
            solution = before.solution(event.solution_id)
            assert solution is not None and solution.status is d.SolutionStatus.accepted
            assert solution.cycle == before.cycle
        if isinstance(event, ev.SolutionAccepted | ev.SolutionRejected):
            solution = before.solution(event.solution_id)
            assert solution is not None and solution.status is d.SolutionStatus.proposed
        if isinstance(event, ev.ComplaintClosed):
            assert before.status is d.Status.answered
        if isinstance(event, SlaBreached):  # each deadline breaches at most once per cycle
            assert (event.deadline_id, event.sla, "breached") not in before.sla_fired
        if isinstance(event, ev.ComplaintReopened):
            assert before.closed_at is not None and command.at - before.closed_at <= timedelta(days=30)
            assert after.cycle == before.cycle + 1
    if events and before.on_hold:
        assert command.while_on_hold  # the rule on the command (was the list _ALLOWED_ON_HOLD)
    assert after.cycle >= before.cycle


def check_state(state: d.Complaint) -> None:
    if state.on_hold:
        assert state.is_open
    if state.status is d.Status.answered and state.outcome is not Outcome.not_upheld:
        assert state.current_solutions(d.SolutionStatus.implemented)
    if state.status in {d.Status.solution_accepted, d.Status.implemented}:
        assert state.current_solutions(d.SolutionStatus.accepted, d.SolutionStatus.implemented)
    if state.status is d.Status.closed:
        assert state.closed_at is not None and state.answered_at is not None
    assert state.regulatory_extensions <= d.DEFAULT_RULES.max_regulatory_extensions


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(channel=channels, script=steps)
def test_any_sequence_of_commands_keeps_the_invariants(
    channel: Channel, script: list[tuple[object, int]]
) -> None:
    decider = d.make_decider()
    history: list[EventData] = [*decider.decide(decider.initial_state, receive(channel))]
    state = decider.fold(history)
    now = T0
    for make, minutes in script:
        now += timedelta(minutes=minutes)
        command = make(state, now) if make is advance else make(now)  # type: ignore[operator]
        try:
            events = list(decider.decide(state, command))
        except DomainError as refused:
            assert str(refused)  # a reason for the member of staff
            continue  # nothing recorded, the state stays as it was
        after = decider.fold(events, state)
        check_step(state, command, events, after)
        for event in events:
            if isinstance(event, ev.ComplaintClosed) and state.classification is not None:
                if state.classification.nature is Nature.major:
                    assert event.root_cause and event.remediation
            assert getattr(event, "complaint_id", CID) == CID
        history.extend(events)
        state = after
        check_state(state)
    note_coverage(f"ended {state.status.value}")
    if state.cycle > 1:
        note_coverage("was reopened")
    # the state is exactly what replaying the history gives: no hidden inputs
    assert decider.fold(history) == state


def test_every_complaint_event_has_an_evolve_function_or_is_known_to_change_nothing() -> None:
    """Adding an event means adding its evolve function (``decider/evolve_*.py``), or saying here
    that it changes nothing of the case's state."""
    events = {
        v
        for v in vars(ev).values()
        if isinstance(v, type) and issubclass(v, EventData) and v is not EventData
    }
    changes_nothing = {ev.ProgressUpdateGiven, ev.RegulatoryMilestoneReached}
    assert events - set(EVOLVE.table) == changes_nothing
