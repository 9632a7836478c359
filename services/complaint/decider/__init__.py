"""The complaint case decider, in lifecycle slices: pure, no I/O; time arrives inside commands.

A case moves received → acknowledged → classified → investigating → solutions_proposed →
(solution_accepted | solutions_rejected → propose again) → implemented → answered → closed, and
can be reopened within 30 days of its close (a new cycle of the same case). Alongside the main
line: put on hold while waiting on the customer (its SLA clocks pause), escalated one level at a
time (never down), merged into an incident (many complaints, one cause). A command that is not
allowed now raises :class:`DomainError` with a reason a lobby manager understands; nothing is
recorded. Deadlines are not decided here: the application starts and stops them from the events.

Where things are: :mod:`.intake` (receipt, reopen, repeats, staff, incidents), :mod:`.handling`
(acknowledge, classify, investigate, hold, escalate, progress), :mod:`.resolution` (solutions,
answer, close), :mod:`.deadlines` (SLA at risk / breached, extension), :mod:`.regulatory` (a
profile's extensions, interim responses, reviews) and :mod:`.evolve` (one function per event).
What a command may do in which state is on the command (:class:`~services.complaint.commands.CaseCommand`),
checked once by :func:`.case.refuse_unless_allowed`. A case received under a regulatory profile
(:mod:`services.complaint.regulation`) also follows its rules (:mod:`services.complaint.regulated`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from services.complaint import commands as c
from services.complaint.commands import Command
from services.complaint.decider import deadlines, handling, intake, regulatory, resolution
from services.complaint.decider.case import Deciding, refuse_unless_allowed
from services.complaint.decider.deadlines import milestone
from services.complaint.decider.evolve import evolve
from services.complaint.decider.rules import DEFAULT_RULES, ComplaintRules
from services.complaint.regulated import RegulatoryRules
from services.complaint.regulation import Regulation
from services.complaint.state import Complaint
from shared.decider import Decider, DomainError
from shared.registry import EventData

Handler = Callable[[Deciding, Any], list[EventData]]

#: command type → the slice's function that decides it
HANDLERS: dict[type, Handler] = {
    c.ReceiveComplaint: intake.receive,
    c.Reopen: intake.reopen,
    c.HandleFailedVerification: intake.failed_verification,
    c.RecordRepeat: intake.repeat,
    c.RecordNewMaterial: intake.new_material,
    c.IdentifyStaff: intake.identify_staff,
    c.AssignHandler: intake.assign_handler,
    c.RecordCustomerLeft: intake.customer_left,
    c.MergeIntoIncident: intake.merge,
    c.Acknowledge: handling.acknowledge,
    c.Classify: handling.classify,
    c.StartInvestigation: handling.start_investigation,
    c.Hold: handling.hold,
    c.Resume: handling.resume,
    c.Escalate: handling.escalate,
    c.GiveProgressUpdate: handling.progress_update,
    c.ProposeSolutions: resolution.propose,
    c.AcceptSolution: resolution.accept,
    c.RejectSolution: resolution.reject,
    c.ImplementSolution: resolution.implement,
    c.Answer: resolution.answer,
    c.Close: resolution.close,
    c.RecordSlaAtRisk: deadlines.at_risk,
    c.RecordSlaBreached: deadlines.breached,
    c.ExtendRegulatoryDeadline: deadlines.extend,
    c.RequestExtension: regulatory.request_extension,
    c.DecideExtension: regulatory.decide_extension,
    c.SendInterimResponse: regulatory.interim_response,
    c.RequestReview: regulatory.request_review,
    c.DecideReview: regulatory.decide_review,
}

#: command type → the refusals of its handler without building its events (the handler runs the
#: same function first): what :meth:`ComplaintDecider.refusal` asks for the case view's
#: allowed steps. A command not listed is decided in full there (its refusals and events interleave)
CHECKS: dict[type, Callable[[Deciding, Any], object]] = {
    c.Acknowledge: handling.may_acknowledge,
    c.Classify: handling.may_classify,
    c.StartInvestigation: handling.may_start_investigation,
    c.Hold: handling.may_hold,
    c.Resume: handling.may_resume,
    c.Escalate: handling.may_escalate,
    c.GiveProgressUpdate: handling.may_progress_update,
    c.RecordCustomerLeft: intake.may_record_customer_left,
    c.MergeIntoIncident: intake.may_merge,
    c.ProposeSolutions: resolution.may_propose,
    c.AcceptSolution: resolution.may_accept,
    c.RejectSolution: resolution.may_reject,
    c.ImplementSolution: resolution.may_implement,
    c.ExtendRegulatoryDeadline: deadlines.may_extend,
}


class ComplaintDecider:
    """``decide`` under a set of :class:`ComplaintRules` and, for cases received under one, the
    case's regulatory profile (``regulation``; without it only the lifecycle rules apply)."""

    def __init__(self, rules: ComplaintRules = DEFAULT_RULES, regulation: Regulation | None = None) -> None:
        self.rules = rules
        self.regulation = regulation
        self.reg = RegulatoryRules(regulation) if regulation is not None else None
        #: the last case :meth:`refusal` was asked about (a view asks ~20 commands of one state)
        self._asked: Deciding | None = None

    def decide(self, state: Complaint, command: Command) -> Sequence[EventData]:
        handler = HANDLERS.get(type(command))
        if handler is None:
            raise DomainError(f"unknown command {type(command).__name__}")
        case = Deciding(state, self.rules, self.reg)
        refuse_unless_allowed(case, command)
        return handler(case, command)

    def refusal(self, state: Complaint, command: Command) -> str | None:
        """Why ``decide`` would refuse ``command`` now (None: it would take it), without building
        the events where the handler's refusals come first (:data:`CHECKS`)."""
        check = CHECKS.get(type(command)) or HANDLERS.get(type(command))
        if check is None:
            return f"unknown command {type(command).__name__}"
        case = self._asked
        if case is None or case.state is not state:  # a Deciding is a value of (state, rules, reg)
            case = self._asked = Deciding(state, self.rules, self.reg)
        try:
            refuse_unless_allowed(case, command)
            check(case, command)
        except DomainError as refused:
            return str(refused)
        return None


def make_decider(
    rules: ComplaintRules = DEFAULT_RULES, regulation: Regulation | None = None
) -> Decider[Command, Complaint]:
    """The decider; with ``regulation``, cases received with a profile follow its rules."""
    return Decider(Complaint(), ComplaintDecider(rules, regulation).decide, evolve)


complaint_decider: Decider[Command, Complaint] = make_decider()


def stream_id(complaint_id: UUID) -> str:
    return f"complaint-{complaint_id}"


__all__ = [
    "CHECKS",
    "DEFAULT_RULES",
    "HANDLERS",
    "ComplaintDecider",
    "ComplaintRules",
    "complaint_decider",
    "evolve",
    "make_decider",
    "milestone",
    "stream_id",
]
