"""The simulated staff follow the rules the deciders enforce: every step the lobby manager takes on
a complaint case (under each regulatory profile, whatever the case turns out to be) and every step
staff take on a follow-up task is one the real decider accepts, from any state the service shows.
Pure: the real deciders and the complaint service's own view of a case, no infrastructure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.complaint import domain as d
from services.complaint.api import view
from services.followup import decider as f
from services.simulator import cases, tasks
from services.simulator.visits import Waiting, line_order
from shared.contracts.complaint import (
    Category,
    HoldKind,
    Nature,
    Outcome,
    ProposedSolution,
    RemediationAction,
    Urgency,
)
from shared.contracts.followup import TaskKind
from shared.contracts.text import TextRef
from shared.texts import TextReader
from tests.support.texts import ref
from tests.unit.complaint.regulation_given import CN_BRANCH, UK_BRANCH, US_BRANCH, Case

NOW = datetime.now(UTC).replace(microsecond=0)


def text(words: object) -> TextRef | None:
    """What a route's ``TextBatch.add`` makes of a body's optional text."""
    return ref(str(words)) if words else None


def command(step: cases.Step, at: datetime) -> d.Command:
    """What the complaint service's route makes of the step's body (services/complaint/api.py)."""
    body = step.body or {}
    match step.route:
        case "acknowledge":
            return d.Acknowledge(at, text(body["apology"]))
        case "classify":
            return d.Classify(
                at,
                Category(body["category"]),
                Nature(body["nature"]),
                body["source"],
                Urgency(body["urgency"]),
            )
        case "merge":
            return d.MergeIntoIncident(
                at, UUID(body["incident_id"]) if "incident_id" in body else uuid4(), ref(body["cause"])
            )
        case "escalate":
            return d.Escalate(at, ref(body["reason"]))
        case "start-investigation":
            return d.StartInvestigation(at, text(body["note"]))
        case "propose":
            solutions = tuple(
                ProposedSolution(solution_id=uuid4(), description=ref(s["description"]))
                for s in body["solutions"]
            )
            return d.ProposeSolutions(at, solutions)
        case "accept":
            return d.AcceptSolution(at, UUID(str(body["solution_id"])))
        case "implement":
            return d.ImplementSolution(at, UUID(str(body["solution_id"])), text(body["note"]))
        case "answer":
            return d.Answer(
                at, ref(body["answer"]), Outcome(body["outcome"]), None, body.get("refers_to_ombudsman")
            )
        case "close":
            actions = tuple(
                RemediationAction(
                    action_id=uuid4(),
                    description=ref(a["description"]),
                    owner=a["owner"],
                    due_at=datetime.fromisoformat(a["due_at"]),
                )
                for a in body.get("remediation_actions", [])
            )
            return d.Close(
                at,
                ref(body["result"]),
                body.get("customer_satisfied"),
                text(body.get("root_cause")),
                text(body.get("remediation")),
                remediation_actions=actions,
            )
        case "resume":
            return d.Resume(at, text(body["note"]))
    raise AssertionError(f"the simulator took a step the test does not know: {step}")


def shown(case: Case) -> dict[str, object]:
    """The case as ``GET /complaints/{id}`` shows it."""
    state = case.state
    assert state.complaint_id is not None
    reader = TextReader("complaint", {}, may_read=False)
    seen = view(state.complaint_id, state, len(case.events), "b", [], NOW, d.DEFAULT_RULES, reader)
    return seen.model_dump(mode="json")


def work(case: Case, plan: cases.Plan, *, hold_at: str | None = None, limit: int = 30) -> list[str]:
    """Take the case through as the simulated lobby manager does; the steps taken."""
    taken: list[str] = []
    done: set[str] = set()
    at = NOW
    for _ in range(limit):
        if hold_at is not None and case.state.status.value == hold_at and not case.state.on_hold:
            case.run(d.Hold(at, ref("waiting for the customer's statement"), HoldKind.waiting_on_customer))
            hold_at = None
        step = cases.next_step(shown(case), plan, frozenset(done), "r01-b0001")
        if step is None:
            return taken
        at += timedelta(minutes=5)
        case.run(command(step, at))  # raises DomainError if the decider refuses
        done.add(step.name)
        taken.append(step.name)
    raise AssertionError(f"the case never closed: {taken}")


@pytest.mark.parametrize("branch", [CN_BRANCH, UK_BRANCH, US_BRANCH])
@pytest.mark.parametrize(
    "plan",
    [
        cases.Plan(Category.waiting_time, Nature.general),
        cases.Plan(Category.fees_and_information_transparency, Nature.major),
        cases.Plan(Category.service_attitude, Nature.general, escalate=True),
        cases.Plan(Category.process_complexity, Nature.general, not_upheld=True),
        cases.Plan(Category.system_failure, Nature.general, incident=1),
    ],
    ids=["general", "major", "escalated", "not-upheld", "outage"],
)
def test_every_case_closes_with_steps_the_decider_accepts(branch: str, plan: cases.Plan) -> None:
    case = Case.received(NOW - timedelta(hours=1), branch=branch)
    taken = work(case, plan)
    assert case.state.status is d.Status.closed and taken[0] == "acknowledge" and taken[-1] == "close"
    assert ("merge" in taken) == (plan.incident is not None)
    assert ("escalate" in taken) == plan.escalate
    assert ("not-upheld" in taken) == plan.not_upheld


@pytest.mark.parametrize(
    "hold_at", ["acknowledged", "classified", "investigating", "solutions_proposed", "implemented"]
)
def test_a_case_on_hold_is_resumed_first(hold_at: str) -> None:
    case = Case.received(NOW - timedelta(hours=1))
    taken = work(case, cases.Plan(Category.waiting_time, Nature.general), hold_at=hold_at)
    assert "resume" in taken and case.state.status is d.Status.closed


def test_a_case_picked_up_midway_or_reopened_goes_on_from_where_it_is() -> None:
    """A case left by an earlier run, or reopened by a failed verification, is worked from its state."""
    case = Case.received(NOW - timedelta(hours=2))
    case.run(
        d.Acknowledge(NOW, ref("sorry")),
        d.Classify(NOW, Category.product_defect, Nature.general, "web", Urgency.normal),
        d.StartInvestigation(NOW),
    )
    plan = cases.Plan(Category.waiting_time, Nature.general)  # its own classification stands
    assert work(case, plan)[0] == "propose"
    case.run(d.Reopen(NOW + timedelta(hours=3), ref("the refund never arrived")))
    taken = work(case, plan)
    assert taken[:2] == ["acknowledge", "start-investigation"] and case.state.status is d.Status.closed
    assert cases.next_step(shown(case), plan, frozenset(), "b") is None


def test_a_refusal_counts_as_a_race_only_if_the_case_moved_on() -> None:
    before = {"status": "investigating", "on_hold": False, "level": "lobby_manager", "solutions": []}
    assert not cases.moved(before, dict(before, version=9))  # an SLA event: not why it was refused
    assert cases.moved(before, dict(before, status="answered"))
    assert cases.moved(before, dict(before, solutions=[{"solution_id": "s", "status": "proposed"}]))


# ----------------------------------------------------------------------------------- follow-ups


def task_view(task: f.Task) -> dict[str, object]:
    """The fields of the follow-up list the simulator reads."""
    assert task.kind is not None
    return {
        "task_id": str(task.task_id),
        "kind": task.kind.value,
        "status": task.status.value,
        "attempts": task.attempts,
        "reached": task.reached,
    }


def task_command(step: tasks.Step, at: datetime) -> f.Command:
    body = step.body
    match step.name:
        case "contact":
            return f.RecordContact(reached=body["reached"], at=at, note=text(body["note"]))
        case "complete":
            return f.CompleteTask(at=at, note=text(body["note"]), verified=body.get("verified"))
        case "cancel":
            return f.CancelTask(reason=text(body["reason"]), at=at)
    raise AssertionError(step)


@settings(max_examples=200, deadline=None)
@given(
    kind=st.sampled_from(list(TaskKind)),
    reached=st.lists(st.booleans(), min_size=tasks.MAX_ATTEMPTS + 1, max_size=tasks.MAX_ATTEMPTS + 1),
    verified=st.booleans(),
)
def test_every_follow_up_ends_with_steps_the_decider_accepts(
    kind: TaskKind, reached: list[bool], verified: bool
) -> None:
    task_id = uuid4()
    subject = f"complaint:{uuid4()}"
    schedule = f.ScheduleTask(task_id, kind, NOW + timedelta(days=1), "keep the promise", subject, NOW)
    task = f.followup_decider.fold(f.decide(f.Task(), schedule))
    taken = []
    for attempt in reached:
        step = tasks.next_step(task_view(task), reached=attempt, verified=verified)
        if step is None:
            break
        task = f.followup_decider.fold(f.decide(task, task_command(step, NOW)), task)
        taken.append(step.name)
    assert not task.is_open, taken
    facing = kind in f.CUSTOMER_FACING
    if facing and task.status is f.TaskStatus.completed:
        assert task.reached and taken[-2:] == ["contact", "complete"]
    if facing and task.status is f.TaskStatus.cancelled:
        assert task.attempts == tasks.MAX_ATTEMPTS and not task.reached
    if not facing:
        assert taken == ["complete"]
        assert task.verified is (verified if kind is TaskKind.verification else None)


# --------------------------------------------------------------------------------------- tellers


def test_a_teller_calls_the_line_whose_first_customer_waited_longest() -> None:
    display = {
        "v1": Waiting("deposits", 300.0),
        "v2": Waiting("loans", 60.0),
        "v3": Waiting("deposits", 30.0),
        "v4": Waiting("general", 120.0),
    }
    assert line_order(display) == ["deposits", "loans", "general"]
    assert line_order({}) == []
