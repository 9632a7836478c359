"""The case page's buttons follow the complaint decider: every state a case can reach (by a walk of
the lifecycle commands) offers exactly the steps the decider accepts now."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from services.complaint import domain as d
from services.console.steps import STEP_ACTIONS, CaseFacts, allowed_steps, answer_outcomes
from shared.auth import ACTIONS
from shared.contracts.complaint import Category, Channel, Nature, Outcome, ProposedSolution, Urgency
from shared.decider import DomainError
from tests.support.texts import ref

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
CID = UUID("00000000-0000-4000-8000-0000000000c1")


def facts(state: d.Complaint) -> CaseFacts:
    """What the console reads from GET /complaints/{id}, built from the domain state."""
    current = state.current_solutions()
    return CaseFacts(
        status=state.status.value,
        on_hold=state.on_hold,
        level=state.level.value,
        channel=state.channel.value if state.channel else None,
        customer_left=state.customer_left_at is not None,
        in_incident=state.incident_id is not None,
        classified=state.classification is not None,
        closed_at=state.closed_at,
        proposed=tuple(str(s.solution_id) for s in current if s.status is d.SolutionStatus.proposed),
        accepted=tuple(str(s.solution_id) for s in current if s.status is d.SolutionStatus.accepted),
        extended=state.regulatory_extensions >= 1,
        regulatory_breached=d.REGULATORY_SLA in state.breached_slas,
    )


def command_for(step: str, state: d.Complaint, at: datetime) -> d.Command:
    """The command a step's form sends, with the values a handler would pick."""
    proposed = [s.solution_id for s in state.current_solutions(d.SolutionStatus.proposed)]
    accepted = [s.solution_id for s in state.current_solutions(d.SolutionStatus.accepted)]
    outcomes = answer_outcomes(facts(state)) or ["upheld"]
    builders: dict[str, Callable[[], d.Command]] = {
        "acknowledge": lambda: d.Acknowledge(at, ref("sorry")),
        "classify": lambda: d.Classify(at, Category.waiting_time, Nature.general, "lobby", Urgency.normal),
        "start-investigation": lambda: d.StartInvestigation(at),
        "propose": lambda: d.ProposeSolutions(
            at, (ProposedSolution(solution_id=uuid4(), description=ref("refund")),)
        ),
        "accept": lambda: d.AcceptSolution(at, proposed[0] if proposed else uuid4()),
        "reject": lambda: d.RejectSolution(at, proposed[0] if proposed else uuid4(), ref("too little")),
        "implement": lambda: d.ImplementSolution(at, accepted[0] if accepted else uuid4()),
        "answer": lambda: d.Answer(at, ref("our answer"), Outcome(outcomes[0])),
        "close": lambda: d.Close(at, ref("done"), root_cause=ref("cause"), remediation=ref("fix")),
        "reopen": lambda: d.Reopen(at, ref("not fixed")),
        "hold": lambda: d.Hold(at, ref("waiting for the statement")),
        "resume": lambda: d.Resume(at),
        "escalate": lambda: d.Escalate(at, ref("needs the branch head")),
        "merge": lambda: d.MergeIntoIncident(at, uuid4(), ref("ATM outage")),
        "customer-left": lambda: d.RecordCustomerLeft(at),
        "progress-update": lambda: d.GiveProgressUpdate(at, ref("told by phone")),
        "extend": lambda: d.ExtendRegulatoryDeadline(at, ref("needs an appraisal")),
    }
    return builders[step]()


def accepted_by_decider(decider: d.ComplaintDecider, state: d.Complaint, step: str, at: datetime) -> bool:
    try:
        decider.decide(state, command_for(step, state, at))
    except DomainError:
        return False
    return True


def reachable_states(channel: Channel, depth: int = 9) -> list[d.Complaint]:
    """Breadth-first over the steps the decider accepts, from a freshly received case."""
    decider = d.ComplaintDecider()
    received = d.ReceiveComplaint(CID, channel, "cust_ref_0001", ref("waited 40 minutes"), T0)
    start = d.make_decider().fold(decider.decide(d.Complaint(), received))
    seen: dict[tuple[object, ...], d.Complaint] = {}
    frontier = [start]
    for level in range(depth):
        at = T0 + timedelta(minutes=level + 1)
        next_frontier = []
        for state in frontier:
            key = _key(state)
            if key in seen:
                continue
            seen[key] = state
            for step in STEP_ACTIONS:
                try:
                    events = decider.decide(state, command_for(step, state, at))
                except DomainError:
                    continue
                after = state
                for event in events:
                    after = d.evolve(after, event)
                next_frontier.append(after)
        frontier = next_frontier
    return list(seen.values())


def _key(state: d.Complaint) -> tuple[object, ...]:
    f = facts(state)
    return (
        replace(f, proposed=(), accepted=(), closed_at=None),
        len(f.proposed),
        len(f.accepted),
        state.cycle,
    )


@pytest.mark.parametrize("channel", [Channel.in_branch, Channel.phone_hotline])
def test_the_case_page_offers_exactly_the_steps_the_decider_accepts(channel: Channel) -> None:
    decider = d.ComplaintDecider()
    states = reachable_states(channel)
    assert len(states) > 30  # the walk really covers the lifecycle
    statuses = {s.status for s in states}
    assert {d.Status.received, d.Status.implemented, d.Status.closed, d.Status.reopened} <= statuses
    for state in states:
        at = (state.closed_at or T0) + timedelta(days=1)
        shown = set(allowed_steps(facts(state), at))
        accepted = {step for step in STEP_ACTIONS if accepted_by_decider(decider, state, step, at)}
        assert shown == accepted, (
            f"{state.status.value} (hold={state.on_hold}, level={state.level.value}): "
            f"page offers {sorted(shown - accepted)} the decider refuses, "
            f"misses {sorted(accepted - shown)} it accepts"
        )


def test_a_closed_case_offers_reopen_only_within_30_days() -> None:
    closed = CaseFacts(status="closed", closed_at=T0)
    assert allowed_steps(closed, T0 + timedelta(days=29)) == ["reopen"]
    assert allowed_steps(closed, T0 + timedelta(days=31)) == []


def test_the_next_move_comes_first() -> None:
    assert allowed_steps(CaseFacts(status="received", channel="in_branch"), T0)[0] == "acknowledge"
    assert allowed_steps(CaseFacts(status="acknowledged"), T0)[0] == "classify"
    assert allowed_steps(CaseFacts(status="implemented", classified=True), T0)[0] == "answer"
    assert allowed_steps(CaseFacts(status="investigating", on_hold=True, classified=True), T0)[0] == "resume"


def test_every_step_is_an_action_of_the_permission_table() -> None:
    for step, action in STEP_ACTIONS.items():
        assert action in ACTIONS, f"{step}: {action} is not in shared/auth/permissions.py"


def test_facts_are_read_from_the_api_view() -> None:
    view = {
        "status": "solution_accepted",
        "on_hold": False,
        "level": "branch_head",
        "channel": "in_branch",
        "customer_left_at": None,
        "incident_id": None,
        "classification": {"category": "waiting_time"},
        "closed_at": None,
        "cycle": 2,
        "solutions": [
            {"solution_id": "a", "status": "accepted", "cycle": 2},
            {"solution_id": "b", "status": "proposed", "cycle": 2},
            {"solution_id": "c", "status": "proposed", "cycle": 1},
        ],
        "history": [
            {"type": "RegulatoryDeadlineExtended", "data": {}},
            {"type": "ComplaintReopened", "data": {}},
            {"type": "SlaBreached", "data": {"sla": "complaint.regulatory"}},
        ],
    }
    f = CaseFacts.from_view(view)
    assert f.accepted == ("a",) and f.proposed == ("b",)
    assert not f.extended  # extended in the previous cycle only
    assert f.regulatory_breached
    assert "extend" not in allowed_steps(f, T0)
    assert allowed_steps(f, T0)[0] == "implement"
