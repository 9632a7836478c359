"""The steps a case takes now, asked of the decider itself, with the reason for each it refuses.

Every case view lists them (``allowed_steps``) so a client offers only the buttons that will work,
without a copy of the rules. Each step is tried against the real ``decide`` with the values a
member of staff would typically send (a placeholder text, the first solution on the table, a new
incident); nothing is recorded. The answer is advice, not a promise: the step's own values (a
solution id, a chosen handler) and the acting member of staff can still make the service refuse
(409 with the reason), and the case may change in between (the version check).

A step some value would make possible offers its most permissive form: ``answer`` is allowed
when either an upheld or a not-upheld answer would be taken now.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from services.complaint import commands as c
from services.complaint.state import Complaint, SolutionStatus
from shared.contracts.complaint import (
    Category,
    Nature,
    Outcome,
    ProposedSolution,
    RemediationAction,
    ReviewOutcome,
    Urgency,
)
from shared.contracts.text import TextRef
from shared.decider import DomainError
from shared.registry import EventData

#: a stand-in for the words staff would type (the decider looks only at whether there is a text)
PROBE_TEXT = TextRef(context="complaint", text_id=UUID(int=0), length=1)
_PROBE_ID = UUID(int=1)

#: what ``propose`` offers (immutable: built once)
_PROBE_SOLUTIONS = (ProposedSolution(solution_id=_PROBE_ID, description=PROBE_TEXT),)

Decide = Callable[[Complaint, c.Command], Sequence[EventData]]
#: why the decider would refuse a command now, None when it would take it
#: (:meth:`~services.complaint.decider.ComplaintDecider.refusal`: its refusals without its events)
Refuse = Callable[[Complaint, c.Command], "str | None"]
#: the commands that would do the step now (tried in order), or why there is none to try
Probe = Callable[[Complaint, datetime], "list[c.Command] | str"]


@dataclass(frozen=True)
class StepAllowed:
    step: str
    allowed: bool
    reason: str | None = None


def _first(state: Complaint, status: SolutionStatus) -> UUID | None:
    found = state.current_solutions(status)
    return found[0].solution_id if found else None


def _on_solution(status: SolutionStatus, build: Callable[[UUID, datetime], c.Command], none: str) -> Probe:
    def probe(state: Complaint, at: datetime) -> list[c.Command] | str:
        solution = _first(state, status)
        return none if solution is None else [build(solution, at)]

    return probe


def _close(state: Complaint, at: datetime) -> list[c.Command]:
    # our own valid values: no validation (it was a tenth of a view's cost)
    action = RemediationAction.model_construct(
        action_id=_PROBE_ID, description=PROBE_TEXT, owner="staff", due_at=at + timedelta(days=30)
    )
    return [
        c.Close(
            at=at,
            result=PROBE_TEXT,
            root_cause=PROBE_TEXT,
            remediation=PROBE_TEXT,
            remediation_actions=(action,),
        )
    ]


#: step (the route's last path segment) → its probe, in the order a handler works through a case
STEPS: dict[str, Probe] = {
    "acknowledge": lambda s, at: [c.Acknowledge(at=at, apology=PROBE_TEXT)],
    "classify": lambda s, at: [
        c.Classify(
            at=at, category=Category.other, nature=Nature.general, source="lobby", urgency=Urgency.normal
        )
    ],
    "start-investigation": lambda s, at: [c.StartInvestigation(at=at)],
    "propose": lambda s, at: [c.ProposeSolutions(at=at, solutions=_PROBE_SOLUTIONS)],
    "accept": _on_solution(
        SolutionStatus.proposed,
        lambda sid, at: c.AcceptSolution(at=at, solution_id=sid),
        "no solution is waiting for the customer's decision",
    ),
    "reject": _on_solution(
        SolutionStatus.proposed,
        lambda sid, at: c.RejectSolution(at=at, solution_id=sid, reason=PROBE_TEXT),
        "no solution is waiting for the customer's decision",
    ),
    "implement": _on_solution(
        SolutionStatus.accepted,
        lambda sid, at: c.ImplementSolution(at=at, solution_id=sid),
        "no accepted solution waits to be implemented",
    ),
    "answer": lambda s, at: [
        c.Answer(at=at, answer=PROBE_TEXT, outcome=outcome, refers_to_ombudsman=True)
        for outcome in (Outcome.upheld, Outcome.not_upheld)
    ],
    "close": _close,
    "reopen": lambda s, at: [c.Reopen(at=at, reason=PROBE_TEXT)],
    "hold": lambda s, at: [c.Hold(at=at, reason=PROBE_TEXT)],
    "resume": lambda s, at: [c.Resume(at=at)],
    "escalate": lambda s, at: [c.Escalate(at=at, reason=PROBE_TEXT)],
    "merge": lambda s, at: [c.MergeIntoIncident(at=at, incident_id=_PROBE_ID, cause=PROBE_TEXT)],
    "customer-left": lambda s, at: [c.RecordCustomerLeft(at=at)],
    "progress-update": lambda s, at: [c.GiveProgressUpdate(at=at, note=PROBE_TEXT)],
    "extend": lambda s, at: [c.ExtendRegulatoryDeadline(at=at, reason=PROBE_TEXT)],
    "request-review": lambda s, at: [c.RequestReview(at=at, reason=PROBE_TEXT)],
    "decide-review": lambda s, at: [
        c.DecideReview(at=at, outcome=ReviewOutcome.original_upheld, decision=PROBE_TEXT)
    ],
}


def allowed_steps(refuse: Refuse, state: Complaint, now: datetime) -> list[StepAllowed]:
    """Every step of :data:`STEPS`, allowed or not (with the decider's reason), at ``now``.

    ``refuse`` is the decider's :meth:`~services.complaint.decider.ComplaintDecider.refusal`: the
    same guards and handler checks as ``decide``, without building the events of the steps it
    would take (they were most of a case view's cost); :func:`replaying` a ``decide`` gives the
    same answer, the long way (the tests hold the two equal)."""
    return [_try(refuse, state, step, probe, now) for step, probe in STEPS.items()]


def replaying(decide: Decide) -> Refuse:
    """A :data:`Refuse` that runs ``decide`` in full (a step is allowed if it decides events)."""

    def refuse(state: Complaint, command: c.Command) -> str | None:
        try:
            decide(state, command)
        except DomainError as refused:
            return str(refused)
        return None

    return refuse


def _try(refuse: Refuse, state: Complaint, step: str, probe: Probe, now: datetime) -> StepAllowed:
    commands = probe(state, now)
    if isinstance(commands, str):
        return StepAllowed(step, False, commands)
    reason = None
    for command in commands:
        refused = refuse(state, command)
        if refused is None:
            return StepAllowed(step, True)
        reason = reason or refused
    return StepAllowed(step, False, reason)
