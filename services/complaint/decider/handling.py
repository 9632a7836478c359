"""Handling: acknowledge, classify, investigate, hold and resume, escalate, keep the customer
informed."""

from __future__ import annotations

from services.complaint.commands import (
    Acknowledge,
    Classify,
    Escalate,
    GiveProgressUpdate,
    Hold,
    Resume,
    StartInvestigation,
)
from services.complaint.decider.case import Deciding, automatic_escalation, next_level, require_status
from services.complaint.state import LEVELS, OPEN_STATUSES, Status
from shared.contracts.complaint import (
    ComplaintAcknowledged,
    ComplaintClassified,
    ComplaintEscalated,
    ComplaintPutOnHold,
    ComplaintResumed,
    EscalationCause,
    InvestigationStarted,
    Level,
    Nature,
    ProgressUpdateGiven,
    Urgency,
)
from shared.decider import DomainError
from shared.registry import EventData

NOT_ACKNOWLEDGED = {Status.received, Status.reopened}


def may_acknowledge(case: Deciding, command: Acknowledge) -> None:
    require_status(case.state, command.verb, NOT_ACKNOWLEDGED, "it was already acknowledged")


def acknowledge(case: Deciding, command: Acknowledge) -> list[EventData]:
    state, reg = case.state, case.reg
    may_acknowledge(case, command)
    timeline = reg.acknowledgement(state, command) if reg else {}
    return [
        ComplaintAcknowledged(
            complaint_id=case.cid, at=command.at, apology=command.apology, cycle=state.cycle, **timeline
        )
    ]


def _working(state_status: Status) -> str:
    if state_status is Status.answered:
        return "the customer already has the answer"
    return "acknowledge the customer first"


WORKING = set(OPEN_STATUSES) - NOT_ACKNOWLEDGED - {Status.answered}


def may_classify(case: Deciding, command: Classify) -> None:
    require_status(case.state, command.verb, WORKING, _working(case.state.status))
    if case.reg is not None:
        case.reg.check_codes(case.state, command)


def classify(case: Deciding, command: Classify) -> list[EventData]:
    state, reg, rules = case.state, case.reg, case.rules
    may_classify(case, command)
    clocks = reg.classify(state, command) if reg else []
    events: list[EventData] = [case.record(ComplaintClassified, command, regulatory_clocks=clocks)]
    causes = []
    if rules.escalate_on_major and command.nature is Nature.major:
        causes.append(EscalationCause.major)
    if rules.escalate_on_urgent and command.urgency is Urgency.urgent:
        causes.append(EscalationCause.urgent)
    upper = next_level(state.level)
    if causes and not state.classification_escalated and upper is not None:
        events.append(automatic_escalation(case, upper, causes, command.at))
    return events


def may_start_investigation(case: Deciding, command: StartInvestigation) -> None:
    state = case.state
    ready = {Status.classified} | ({Status.acknowledged} if state.classification else set())
    hint = "the investigation has already started"
    if state.status in NOT_ACKNOWLEDGED:
        hint = "acknowledge the customer first"
    elif state.status is Status.acknowledged:
        hint = "classify it first"
    require_status(state, command.verb, ready, hint)


def start_investigation(case: Deciding, command: StartInvestigation) -> list[EventData]:
    may_start_investigation(case, command)
    return [InvestigationStarted(complaint_id=case.cid, at=command.at, note=command.note)]


def may_hold(case: Deciding, command: Hold) -> None:
    state = case.state
    require_status(
        state, command.verb, set(OPEN_STATUSES) - NOT_ACKNOWLEDGED, "acknowledge the customer first"
    )
    if state.on_hold:
        raise DomainError("cannot put the case on hold: it is already on hold")


def hold(case: Deciding, command: Hold) -> list[EventData]:
    state, reg = case.state, case.reg
    may_hold(case, command)
    return [case.record(ComplaintPutOnHold, command, **(reg.hold(state, command) if reg else {}))]


def may_resume(case: Deciding, command: Resume) -> None:
    if not case.state.on_hold:
        raise DomainError("cannot resume: the case is not on hold")


def resume(case: Deciding, command: Resume) -> list[EventData]:
    state, reg = case.state, case.reg
    may_resume(case, command)
    return [case.record(ComplaintResumed, command, **(reg.resume(state, command) if reg else {}))]


def may_escalate(case: Deciding, command: Escalate) -> Level:
    """The level the case goes to."""
    level = case.state.level
    upper = next_level(level)
    if upper is None:
        raise DomainError("cannot escalate: the case is already with the HQ department, the highest level")
    if command.to_level is not None and command.to_level != upper:
        if LEVELS.index(command.to_level) <= LEVELS.index(level):
            raise DomainError(
                f"cannot move the case to {command.to_level.value}: it is with {level.value}, "
                "and a case is never de-escalated"
            )
        raise DomainError(
            f"cannot escalate to {command.to_level.value}: escalation goes one level at a time "
            f"(next is {upper.value})"
        )
    return upper


def escalate(case: Deciding, command: Escalate) -> list[EventData]:
    upper = may_escalate(case, command)
    return [case.record(ComplaintEscalated, command, from_level=case.state.level, to_level=upper)]


def may_progress_update(case: Deciding, command: GiveProgressUpdate) -> None:
    require_status(case.state, command.verb, WORKING, _working(case.state.status))


def progress_update(case: Deciding, command: GiveProgressUpdate) -> list[EventData]:
    may_progress_update(case, command)
    return [ProgressUpdateGiven(complaint_id=case.cid, note=command.note, at=command.at)]
