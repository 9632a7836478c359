"""Which SLA clocks a complaint's events start, meet, pause, resume, extend or cancel.

Called from the command's ``after_append``, so a deadline changes in the same transaction as the
events that change it. The decider stays pure; this module is the one place that knows the
mapping from lifecycle to deadlines:

- received: acknowledge (30 min), regulatory (15 days), progress update (24 h), and resolve
  (24 h) — except for an in-branch case linked to a visit, whose resolve clock starts when the
  customer leaves the branch;
- acknowledged / solutions proposed / progress update given: the progress clock starts again;
- first solution implemented, or the answer: resolve met; the answer also meets the regulatory
  decision and ends the progress updates;
- on hold / resumed: every running clock of the case pauses / resumes;
- regulatory extension: the regulatory clock's duration becomes the extended limit;
- closed: whatever still runs is cancelled; reopened: a new cycle starts all four again.

A case received under a regulatory profile gets its regulatory deadlines from the clocks its events
carry (``regulatory_clocks``: receipt, reopen, new facts, reclassification, review request) instead
of the policy book; they are met by the clocks in ``regulatory_outcomes`` (answer, interim reply,
review decision), and a hold pauses only the regulatory clocks whose rule stops for that kind of
hold (``keep_running``: the others run on, e.g. uk-fca's 8 weeks).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import asyncpg

from services.complaint.domain import REGULATORY_SLA, RESOLVE_SLA, Complaint
from services.complaint.regclocks import ClockMath, started
from shared.contracts.complaint import (
    Channel,
    ClockStart,
    ComplaintAcknowledged,
    ComplaintAnswered,
    ComplaintClosed,
    ComplaintCorrectionFailed,
    ComplaintPutOnHold,
    ComplaintReceived,
    ComplaintReopened,
    ComplaintResumed,
    CustomerLeftBranch,
    HoldKind,
    InterimResponseSent,
    LimitUnit,
    ProgressUpdateGiven,
    RegulatoryDeadlineExtended,
    ReviewDecided,
    SolutionImplemented,
    SolutionsProposed,
)
from shared.envelope import Envelope
from shared.registry import EventRegistry
from shared.sla.deadlines import Deadline, DeadlineCache, Deadlines
from shared.sla.policy import SlaPolicy
from shared.sla.subject import Subject

ACKNOWLEDGE_SLA = "complaint.acknowledge"
PROGRESS_SLA = "complaint.progress_update"


def regulatory_rule(start: ClockStart) -> str:
    """The rule text a regulatory deadline shows: profile, citation, why it (re)started, the rule."""
    cite = f" ({start.citation})" if start.citation else ""
    return f"{start.profile}{cite}, from {start.basis.value.replace('_', ' ')}: {start.rule}"


def keep_running(state: Complaint, kind: HoldKind | None) -> list[str]:
    """Regulatory clocks a hold of this kind does not stop (their rule has no stop-the-clock)."""
    return [c.sla for c in state.clocks.open() if kind is None or kind not in c.pauses_on]


class ComplaintClocks:
    def __init__(self, deadlines: Deadlines, registry: EventRegistry, math: ClockMath | None = None) -> None:
        self.deadlines = deadlines
        self.registry = registry
        self.math = math

    async def apply(
        self,
        conn: asyncpg.Connection,
        state: Complaint,
        envelopes: Sequence[Envelope],
        read: Sequence[Deadline] | None = None,
    ) -> list[Deadline]:
        """Change the case's deadlines for ``envelopes``: read once (not for a new case, nor when
        ``read`` with the stream), written in one statement with the command's other writes.
        Returns all the case's deadlines after."""
        if not envelopes or state.complaint_id is None:
            return []
        subject = str(state.complaint_id)
        head = envelopes[0]
        if read is not None and head.stream_version > 1:
            deadlines = DeadlineCache(self.deadlines, subject, read)
        else:
            deadlines = await self.deadlines.cached(None if head.stream_version == 1 else conn, subject)
        case = Subject("complaint", subject, head.stream_id, head.branch_id)

        async def start(sla: str, at: datetime, duration: timedelta | None = None) -> None:
            await deadlines.start(conn, subject=case, sla=sla, started_at=at, duration=duration, restart=True)

        last_at: datetime = head.occurred_at
        for env in envelopes:
            event = self.registry.decode(env)
            last_at = getattr(event, "at", None) or getattr(event, "received_at", None) or last_at
            match event:
                case ComplaintReceived():
                    at = event.received_at
                    await start(ACKNOWLEDGE_SLA, at)
                    if event.regulatory_profile is None:
                        await start(REGULATORY_SLA, at)
                    await start(PROGRESS_SLA, at)
                    if event.channel is not Channel.in_branch or event.visit_id is None:
                        await start(RESOLVE_SLA, at)
                case CustomerLeftBranch():
                    # 24 h after the customer left (moves a provisional clock started at receipt)
                    if state.is_open and state.resolved_at is None:
                        await start(RESOLVE_SLA, event.at)
                case ComplaintAcknowledged():
                    await deadlines.meet(conn, subject, ACKNOWLEDGE_SLA, event.at)
                    await start(PROGRESS_SLA, event.at)
                case SolutionsProposed() | ProgressUpdateGiven():
                    await start(PROGRESS_SLA, event.at)
                case SolutionImplemented():
                    await deadlines.meet(conn, subject, RESOLVE_SLA, event.at)
                case ComplaintAnswered():
                    await deadlines.meet(conn, subject, RESOLVE_SLA, event.at)
                    await deadlines.meet(conn, subject, REGULATORY_SLA, event.at)
                    await deadlines.cancel(conn, subject, PROGRESS_SLA, event.at)
                    for outcome in event.regulatory_outcomes:
                        await deadlines.meet(conn, subject, outcome.sla, event.at)
                case InterimResponseSent() | ReviewDecided():
                    for outcome in event.regulatory_outcomes:
                        await deadlines.meet(conn, subject, outcome.sla, event.at)
                case ComplaintCorrectionFailed():
                    # the correction did not happen: it is due again, and the customer kept informed
                    await start(RESOLVE_SLA, event.at)
                    await start(PROGRESS_SLA, event.at)
                case ComplaintPutOnHold():
                    await deadlines.pause(
                        conn, subject, event.at, keep_running=keep_running(state, event.kind)
                    )
                case ComplaintResumed():
                    await deadlines.resume(conn, subject, event.at)
                case RegulatoryDeadlineExtended():
                    await self._extend(conn, deadlines, state, subject, event)
                case ComplaintClosed():
                    await deadlines.cancel_all(conn, subject, event.at)
                case ComplaintReopened():
                    for sla in (ACKNOWLEDGE_SLA, RESOLVE_SLA, REGULATORY_SLA, PROGRESS_SLA):
                        if sla != REGULATORY_SLA or state.profile is None:
                            await start(sla, event.at)
            for clock in getattr(event, "regulatory_clocks", None) or ():
                await self._start_regulatory(conn, deadlines, case, clock)
        if state.on_hold:
            # a clock started while the case waits (e.g. the customer left meanwhile) waits too
            await deadlines.pause(conn, subject, last_at, keep_running=keep_running(state, state.hold_kind))
        await deadlines.write(conn)
        return deadlines.all()

    async def _start_regulatory(
        self, conn: asyncpg.Connection, deadlines: Deadlines, case: Subject, clock: ClockStart
    ) -> None:
        """A profile's clock: its own policy (profile, rule, warnings), counted in calendar time."""
        duration = timedelta(days=clock.limit)
        if clock.unit is LimitUnit.business_days and self.math is not None:
            duration = self.math.duration(started(clock))
        policy = SlaPolicy(
            sla=clock.sla,
            duration=duration,
            counting="calendar",
            at_risk_fraction=clock.at_risk_fraction,
            warnings=tuple(clock.warnings),
            rule=regulatory_rule(clock),
            policy=clock.profile,
        )
        await deadlines.start(
            conn,
            subject=case,
            sla=clock.sla,
            started_at=clock.started_at,
            policy=policy,  # its duration
            restart=True,
        )

    async def _extend(
        self,
        conn: asyncpg.Connection,
        deadlines: Deadlines,
        state: Complaint,
        subject: str,
        event: RegulatoryDeadlineExtended,
    ) -> None:
        clock = state.clocks.get(event.sla)
        if clock is None:  # a case without a profile: the policy book's clock, in days
            rule = f"Extended to {event.limit_days} days: {event.reason}"
            await deadlines.change_duration(
                conn, subject, event.sla, timedelta(days=event.limit_days), rule=rule[:300]
            )
            return
        duration = timedelta(days=event.limit_days)
        if event.unit is LimitUnit.business_days and self.math is not None:
            duration = self.math.duration(clock, event.limit_days)
        unit = "business days" if event.unit is LimitUnit.business_days else "days"
        who = f", approved by {event.approved_by}" if event.approved_by else ""
        cite = f" ({clock.citation})" if clock.citation else ""
        rule = (
            f"{clock.profile}{cite}: extended to {event.limit_days} {unit} on {event.at:%Y-%m-%d}{who}: "
            f"{event.reason}"
        )
        await deadlines.change_duration(conn, subject, event.sla, duration, rule=rule[:1000])
