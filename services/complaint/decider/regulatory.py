"""Regulatory steps (issue 8): further extensions with approval, interim responses, reviews.

Only a case received under a regulatory profile takes these (the commands say ``needs_profile``);
the profile's clock arithmetic is in :mod:`services.complaint.regulated`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from services.complaint.commands import (
    DecideExtension,
    DecideReview,
    ExtendRegulatoryDeadline,
    RequestExtension,
    RequestReview,
    SendInterimResponse,
)
from services.complaint.decider.case import Deciding, automatic_escalation, require_exists
from services.complaint.regclocks import RegClock
from services.complaint.regulated import ANONYMOUS, unit_words
from services.complaint.state import LEVELS, REGULATORY_SLA, Status
from shared.contracts.complaint import (
    ClockBasis,
    ClockOutcome,
    EscalationCause,
    ExtensionApproved,
    ExtensionDenied,
    ExtensionRequested,
    InterimResponseSent,
    ReviewDecided,
    ReviewRequested,
)
from shared.decider import DomainError
from shared.registry import EventData


def may_extend_under_profile(case: Deciding, command: ExtendRegulatoryDeadline) -> tuple[RegClock, int]:
    """The clock to extend and its new limit, or the refusal."""
    reg, state = case.profile_rules, case.state
    what = "extend the regulatory deadline"
    if state.status is Status.answered:
        raise DomainError("cannot extend the regulatory deadline: the customer already has the decision")
    clock = reg.open_clock(state, REGULATORY_SLA, what)
    step = reg.next_step(state, clock)
    if step is None:
        raise DomainError(
            "cannot extend the regulatory deadline again: it is already "
            f"{unit_words(clock.unit, clock.limit)}, "
            f"the most {clock.profile} allows"
        )
    if step.needs == "approval":
        raise DomainError(
            "cannot extend the regulatory deadline again: it was already extended to "
            f"{clock.limit} days in this cycle; a further extension to {step.to} days needs approval by "
            "higher-level management (request-extension)"
        )
    if step.needs != "reason":
        raise DomainError(f"cannot {what}: under {clock.profile} it moves only with a {step.needs} response")
    if REGULATORY_SLA in state.breached_slas:
        raise DomainError(f"cannot {what}: the {clock.limit}-day limit has already passed")
    reg.not_passed(clock, command.at, what)
    return clock, step.to


def extend_under_profile(case: Deciding, command: ExtendRegulatoryDeadline) -> list[EventData]:
    clock, to = may_extend_under_profile(case, command)
    reg, cid = case.profile_rules, case.cid
    return [reg.extended(clock, to, complaint_id=cid, reason=command.reason, at=command.at)]


def request_extension(case: Deciding, command: RequestExtension) -> list[EventData]:
    reg, state = case.profile_rules, case.state
    what = "request a further extension"
    if command.by in ANONYMOUS:
        raise DomainError(f"cannot {what}: the request needs an identified member of staff")
    if state.status is Status.answered:
        raise DomainError(f"cannot {what}: the customer already has the decision")
    if state.pending_extension is not None:
        raise DomainError(
            f"cannot {what}: the request of {state.pending_extension.requested_by} is still waiting "
            "for a decision"
        )
    clock = reg.open_clock(state, REGULATORY_SLA, what)
    step = reg.next_step(state, clock)
    if step is None or step.needs != "approval":
        hint = (
            "extend it with a reason (extend)"
            if step and step.needs == "reason"
            else "no approval step is left"
        )
        raise DomainError(f"cannot {what} now: {hint}")
    reg.not_passed(clock, command.at, what)
    extension = len(clock.extensions) + 1
    requested = {"sla": clock.sla, "requested_by": command.by, "limit_days": step.to, "extension": extension}
    return [case.record(ExtensionRequested, command, **requested)]


def decide_extension(case: Deciding, command: DecideExtension) -> list[EventData]:
    reg, state, cid = case.profile_rules, case.state, case.cid
    verb = "approve" if command.approve else "deny"
    request = state.pending_extension
    if request is None:
        raise DomainError(f"cannot {verb} an extension: no extension request is waiting for a decision")
    if command.by in ANONYMOUS:
        raise DomainError(f"cannot {verb} an extension: the decision needs an identified member of staff")
    if command.by == request.requested_by:
        raise DomainError(
            f"cannot {verb} the extension: {command.by} requested it, and the requester cannot decide "
            "their own request; higher-level management decides"
        )
    if command.by in state.about_staff:
        raise DomainError(f"cannot {verb} the extension: the complaint is about {command.by} (recusal)")
    # what the approval or denial says of the request it decides
    decided: dict[str, Any] = {
        "complaint_id": cid,
        "request_id": request.request_id,
        "sla": request.sla,
        "requested_by": request.requested_by,
        "at": command.at,
    }
    if not command.approve:
        if command.note is None:
            raise DomainError("cannot deny the extension without a reason")
        return [ExtensionDenied(**decided, denied_by=command.by, reason=command.note)]
    clock = reg.open_clock(state, request.sla, "approve the extension")
    reg.not_passed(clock, command.at, "approve the extension")
    by, limit = command.by, request.limit_days
    moved = {"complaint_id": cid, "at": command.at, "requested_by": request.requested_by, "approved_by": by}
    return [
        ExtensionApproved(**decided, approved_by=by, limit_days=limit, note=command.note),
        reg.extended(clock, limit, reason=request.reason, **moved),
    ]


# ------------------------------------------------------------------------ interim responses


def interim_response(case: Deciding, command: SendInterimResponse) -> list[EventData]:
    reg, state, cid = case.profile_rules, case.state, case.cid
    profile = reg.profile(state)
    what = f"send a {command.kind.value.replace('_', ' ')} response"
    if command.kind not in profile.interim_responses:
        allowed = ", ".join(sorted(profile.interim_responses)) or "none"
        raise DomainError(f"cannot {what}: the {profile.name} profile's interim responses are: {allowed}")
    if state.status in {Status.answered, Status.under_review}:
        raise DomainError(f"cannot {what}: the customer already has the decision")
    if profile.final_response_refers_to_ombudsman and not command.refers_to_ombudsman:
        raise DomainError(
            f"cannot {what}: it must tell the complainant of their right to refer the complaint to the "
            "Financial Ombudsman Service; confirm it with refers_to_ombudsman"
        )
    outcomes: list[ClockOutcome] = []
    effects: list[EventData] = []
    final_by: datetime | None = None
    for clock in state.clocks.open():
        if command.kind.value in clock.met_by:
            outcomes.append(reg.outcome(clock, command.kind.value, command.at))
            continue
        step = reg.next_step(state, clock)
        if step is not None and step.needs == command.kind.value:
            reg.not_passed(clock, command.at, what)
            extended = reg.extended(clock, step.to, complaint_id=cid, reason=command.note, at=command.at)
            final_by = extended.due_at
            effects.append(extended)
    if not effects and not outcomes:
        raise DomainError(f"cannot {what}: no regulatory deadline of this case waits for one")
    sent = InterimResponseSent(
        complaint_id=cid,
        kind=command.kind,
        note=command.note,
        refers_to_ombudsman=command.refers_to_ombudsman,
        final_response_by=final_by,
        at=command.at,
        regulatory_outcomes=outcomes,
    )
    return [sent, *effects]


# ---------------------------------------------------------------------------------- review


def request_review(case: Deciding, command: RequestReview) -> list[EventData]:
    """Its own guard: a closed case may be reviewed too (cn-2020), but not one on hold."""
    if case.reg is None:
        raise DomainError("cannot request a review: this case follows no regulatory profile")
    require_exists(case.state, command.verb)
    if case.state.on_hold:
        raise DomainError("cannot request a review: the case is on hold; resume it first")
    reg, state, cid = case.profile_rules, case.state, case.cid
    profile = reg.profile(state)
    what = "request a review"
    if not profile.has_review:
        raise DomainError(f"cannot {what}: the {profile.name} profile has no review by a higher level")
    if state.status not in {Status.answered, Status.closed} or state.decision_at is None:
        raise DomainError(f"cannot {what}: a review examines a decision, and the complainant has none yet")
    if state.reviewed_decision_at == state.decision_at:
        raise DomainError(f"cannot {what}: this decision was already reviewed; the review decision is final")
    window = profile.review_request_window_days
    if window is not None and command.at - state.decision_at > timedelta(days=window):
        raise DomainError(
            f"cannot {what}: the decision was given on {state.decision_at:%Y-%m-%d}, more than "
            f"{window} days ago"
        )
    index = LEVELS.index(state.level)
    reviewing = LEVELS[min(index + 1, len(LEVELS) - 1)]
    events: list[EventData] = [
        ReviewRequested(
            complaint_id=cid,
            at=command.at,
            reason=command.reason,
            cycle=state.cycle + 1,
            decision_at=state.decision_at,
            reviewing_level=reviewing,
            regulatory_clocks=reg.starts(state, ClockBasis.review, command.at),
        )
    ]
    if reviewing != state.level:
        events.append(automatic_escalation(case, reviewing, [EscalationCause.review_requested], command.at))
    return events


def decide_review(case: Deciding, command: DecideReview) -> list[EventData]:
    reg, state = case.profile_rules, case.state
    if state.status is not Status.under_review:
        raise DomainError("cannot decide a review: no review is under way")
    outcomes = reg.outcomes(state, "review_decision", command.at)
    return [case.record(ReviewDecided, command, cycle=state.cycle, regulatory_outcomes=outcomes)]
