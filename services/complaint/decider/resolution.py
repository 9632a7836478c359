"""Resolution: solutions proposed, accepted or rejected, implemented; the answer; the close."""

from __future__ import annotations

from uuid import UUID

from services.complaint.commands import (
    AcceptSolution,
    Answer,
    Close,
    ImplementSolution,
    ProposeSolutions,
    RejectSolution,
)
from services.complaint.decider.case import Deciding, require_status
from services.complaint.state import SolutionStatus, Status
from shared.contracts.complaint import (
    ComplaintAnswered,
    ComplaintClosed,
    Nature,
    Outcome,
    SolutionAccepted,
    SolutionImplemented,
    SolutionRejected,
    SolutionsProposed,
)
from shared.decider import DomainError
from shared.registry import EventData


def _propose_hint(status: Status) -> str:
    if status in {Status.received, Status.reopened, Status.acknowledged, Status.classified}:
        return "start the investigation first"
    if status is Status.solution_accepted:
        return "the customer accepted a solution; implement it"
    return "the solutions stage is over"


def may_propose(case: Deciding, command: ProposeSolutions) -> None:
    state = case.state
    on_the_table = {Status.investigating, Status.solutions_proposed, Status.solutions_rejected}
    require_status(state, command.verb, on_the_table, _propose_hint(state.status))
    if not command.solutions:
        raise DomainError("cannot propose solutions: propose at least one")
    ids = [s.solution_id for s in command.solutions]
    if len(set(ids)) != len(ids) or any(state.solution(i) is not None for i in ids):
        raise DomainError("cannot propose solutions: a solution with this id was already proposed")


def propose(case: Deciding, command: ProposeSolutions) -> list[EventData]:
    may_propose(case, command)
    return [SolutionsProposed(complaint_id=case.cid, solutions=list(command.solutions), at=command.at)]


def _pending_solution(case: Deciding, solution_id: UUID, verb: str) -> None:
    state = case.state
    solution = state.solution(solution_id)
    if solution is None or solution.cycle != state.cycle:
        raise DomainError(f"cannot {verb} solution {solution_id}: it was not proposed for this case")
    if solution.status is not SolutionStatus.proposed:
        raise DomainError(
            f"cannot {verb} solution {solution_id}: the customer already decided on it "
            f"(it is {solution.status.value})"
        )
    require_status(
        state,
        f"{verb} a solution",
        {Status.solutions_proposed, Status.solution_accepted},
        "the customer decides on solutions only while they are on the table",
    )


def accept(case: Deciding, command: AcceptSolution) -> list[EventData]:
    _pending_solution(case, command.solution_id, "accept")
    return [
        SolutionAccepted(
            complaint_id=case.cid, solution_id=command.solution_id, at=command.at, note=command.note
        )
    ]


def reject(case: Deciding, command: RejectSolution) -> list[EventData]:
    _pending_solution(case, command.solution_id, "reject")
    return [
        SolutionRejected(
            complaint_id=case.cid, solution_id=command.solution_id, at=command.at, reason=command.reason
        )
    ]


def may_accept(case: Deciding, command: AcceptSolution) -> None:
    _pending_solution(case, command.solution_id, "accept")


def may_reject(case: Deciding, command: RejectSolution) -> None:
    _pending_solution(case, command.solution_id, "reject")


def may_implement(case: Deciding, command: ImplementSolution) -> None:
    state, sid = case.state, command.solution_id
    solution = state.solution(sid)
    if solution is None or solution.cycle != state.cycle:
        raise DomainError(f"cannot implement solution {sid}: it was not proposed for this case")
    if solution.status is SolutionStatus.implemented:
        raise DomainError(f"cannot implement solution {sid}: it is already implemented")
    if solution.status is not SolutionStatus.accepted:
        raise DomainError(
            f"cannot implement solution {sid}: the customer has not accepted it "
            f"(it is {solution.status.value})"
        )


def implement(case: Deciding, command: ImplementSolution) -> list[EventData]:
    may_implement(case, command)
    sid = command.solution_id
    return [SolutionImplemented(complaint_id=case.cid, solution_id=sid, at=command.at, note=command.note)]


def answer(case: Deciding, command: Answer) -> list[EventData]:
    state, reg = case.state, case.reg
    if command.outcome is Outcome.not_upheld:
        require_status(
            state,
            "answer that the complaint is not upheld",
            {Status.investigating, Status.solutions_rejected},
            "a complaint is found not upheld after investigating it, with no solution on the table",
        )
    else:
        require_status(
            state,
            command.verb,
            {Status.implemented},
            "implement an accepted solution first"
            if state.status is not Status.answered
            else "the customer was already answered",
        )
    outcomes = reg.answer(state, command) if reg else []
    return [case.record(ComplaintAnswered, command, regulatory_outcomes=outcomes)]


def close(case: Deciding, command: Close) -> list[EventData]:
    state, reg = case.state, case.reg
    require_status(state, command.verb, {Status.answered}, "answer the customer first")
    if reg is not None:
        reg.close(state, command)
    else:
        major = state.classification is not None and state.classification.nature is Nature.major
        recorded = command.root_cause and (command.remediation or command.remediation_actions)
        if case.rules.require_root_cause_for_major and major and not recorded:
            raise DomainError(
                "cannot close a major complaint without its root cause and a remediation action (溯源整改)"
            )
    return [case.record(ComplaintClosed, command)]
