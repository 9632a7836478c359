"""One decision's inputs, and the guards every slice shares.

A handler gets a :class:`Deciding` (the case's state, the service's lifecycle rules and, for a case
received under a regulatory profile, that profile's rules) and its command. What a command may do
in which state of the case is said on the command (:class:`~services.complaint.commands.CaseCommand`)
and checked once, by :func:`refuse_unless_allowed`, before any handler runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from services.complaint.commands import CaseCommand
from services.complaint.decider.rules import ComplaintRules
from services.complaint.regulated import RegulatoryRules
from services.complaint.regulation import Regulation
from services.complaint.state import LEVELS, Complaint, Status
from shared import by_name
from shared.contracts.complaint import ComplaintEscalated, EscalationCause, HoldKind, Level
from shared.decider import DomainError
from shared.registry import EventData

E = TypeVar("E", bound=EventData)


@dataclass(frozen=True)
class Deciding:
    """A case about to decide a command."""

    state: Complaint
    rules: ComplaintRules
    #: the rules of the service's regulation (its profiles), whatever the case
    service_reg: RegulatoryRules | None = None

    @property
    def regulation(self) -> Regulation | None:
        """The service's regulation (profiles), whatever the case."""
        return self.service_reg.regulation if self.service_reg else None

    @property
    def reg(self) -> RegulatoryRules | None:
        """The profile's rules, for a case received under a profile (None: lifecycle rules only)."""
        return self.service_reg if self.state.profile is not None else None

    @property
    def profile_rules(self) -> RegulatoryRules:
        """The profile's rules of a command that needs a profile (the guard checked there is one)."""
        assert self.reg is not None
        return self.reg

    @property
    def cid(self) -> UUID:
        assert self.state.complaint_id is not None
        return self.state.complaint_id

    def record(self, event: type[E], command: object, **decided: Any) -> E:
        """``event`` of this case, recording each of its fields the command has by the same name
        (its time, texts, codes); ``decided``: what the decision adds or sets otherwise."""
        # only a receipt's command names its case; every other event is about this one. The case's
        # id goes in as decided rather than as a mapping source: sources of fixed types only take
        # ``by_name``'s per-type plan, a mapping its per-field look-up (~4x the cost per event)
        if (
            "complaint_id" not in decided
            and "complaint_id" in event.model_fields
            and not hasattr(command, "complaint_id")
        ):
            decided["complaint_id"] = self.state.complaint_id
        return by_name.record(event, command, **decided)


def refuse_unless_allowed(case: Deciding, command: CaseCommand) -> None:
    """The one guard: the case exists and is open, and the command may act on hold, under review
    and without a profile as its class says. Commands with ``own_guard`` check the case themselves."""
    if command.own_guard:
        return
    state, verb = case.state, command.verb
    require_open(state, verb)
    if state.on_hold and not command.while_on_hold:
        raise DomainError(f"cannot {verb}: the case is on hold ({hold_kind(state)}); resume it first")
    if state.status is Status.under_review and not command.while_under_review:
        raise DomainError(
            f"cannot {verb}: the higher level is reviewing the decision; record the review decision first"
        )
    if command.needs_profile and case.reg is None:
        raise DomainError(f"cannot {verb}: this case follows no regulatory profile")


def require_exists(state: Complaint, what: str) -> None:
    if state.status is Status.none:
        raise DomainError(f"cannot {what}: this complaint does not exist")


def require_open(state: Complaint, what: str) -> None:
    require_exists(state, what)
    if state.status is Status.closed:
        raise DomainError(f"cannot {what}: the case is closed; only reopening it is possible")


def require_status(state: Complaint, what: str, allowed: set[Status], hint: str) -> None:
    if state.status not in allowed:
        raise DomainError(f"cannot {what} while the case is {state.status.value.replace('_', ' ')}: {hint}")


def next_level(level: Level) -> Level | None:
    index = LEVELS.index(level)
    return LEVELS[index + 1] if index + 1 < len(LEVELS) else None


def automatic_escalation(
    case: Deciding, to_level: Level, causes: list[EscalationCause], at: datetime
) -> ComplaintEscalated:
    """An escalation the rules make (a major or urgent case, a breach, a review): causes as codes."""
    return ComplaintEscalated(
        complaint_id=case.cid,
        from_level=case.state.level,
        to_level=to_level,
        automatic=True,
        causes=causes,
        at=at,
    )


def hold_kind(state: Complaint) -> str:
    return (state.hold_kind or HoldKind.waiting_on_customer).value.replace("_", " ")
