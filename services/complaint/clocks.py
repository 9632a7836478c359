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
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import asyncpg

from services.complaint.domain import REGULATORY_SLA, RESOLVE_SLA, Complaint
from shared.contracts.complaint import (
    Channel,
    ComplaintAcknowledged,
    ComplaintAnswered,
    ComplaintClosed,
    ComplaintCorrectionFailed,
    ComplaintPutOnHold,
    ComplaintReceived,
    ComplaintReopened,
    ComplaintResumed,
    CustomerLeftBranch,
    ProgressUpdateGiven,
    RegulatoryDeadlineExtended,
    SolutionImplemented,
    SolutionsProposed,
)
from shared.envelope import Envelope
from shared.registry import EventRegistry
from shared.sla.deadlines import Deadlines

ACKNOWLEDGE_SLA = "complaint.acknowledge"
PROGRESS_SLA = "complaint.progress_update"


class ComplaintClocks:
    def __init__(self, deadlines: Deadlines, registry: EventRegistry) -> None:
        self.deadlines = deadlines
        self.registry = registry

    async def apply(self, conn: asyncpg.Connection, state: Complaint, envelopes: Sequence[Envelope]) -> None:
        if not envelopes or state.complaint_id is None:
            return
        subject = str(state.complaint_id)
        head = envelopes[0]

        async def start(sla: str, at: datetime, duration: timedelta | None = None) -> None:
            await self.deadlines.start(
                conn,
                sla=sla,
                subject_type="complaint",
                subject_id=subject,
                stream_id=head.stream_id,
                branch_id=head.branch_id,
                started_at=at,
                duration=duration,
                restart=True,
            )

        last_at: datetime = head.occurred_at
        for env in envelopes:
            event = self.registry.decode(env)
            last_at = getattr(event, "at", None) or getattr(event, "received_at", None) or last_at
            match event:
                case ComplaintReceived():
                    at = event.received_at
                    await start(ACKNOWLEDGE_SLA, at)
                    await start(REGULATORY_SLA, at)
                    await start(PROGRESS_SLA, at)
                    if event.channel is not Channel.in_branch or event.visit_id is None:
                        await start(RESOLVE_SLA, at)
                case CustomerLeftBranch():
                    # 24 h after the customer left (moves a provisional clock started at receipt)
                    if state.is_open and state.resolved_at is None:
                        await start(RESOLVE_SLA, event.at)
                case ComplaintAcknowledged():
                    await self.deadlines.meet(conn, subject, ACKNOWLEDGE_SLA, event.at)
                    await start(PROGRESS_SLA, event.at)
                case SolutionsProposed() | ProgressUpdateGiven():
                    await start(PROGRESS_SLA, event.at)
                case SolutionImplemented():
                    await self.deadlines.meet(conn, subject, RESOLVE_SLA, event.at)
                case ComplaintAnswered():
                    await self.deadlines.meet(conn, subject, RESOLVE_SLA, event.at)
                    await self.deadlines.meet(conn, subject, REGULATORY_SLA, event.at)
                    await self.deadlines.cancel(conn, subject, PROGRESS_SLA, event.at)
                case ComplaintCorrectionFailed():
                    # the correction did not happen: it is due again, and the customer kept informed
                    await start(RESOLVE_SLA, event.at)
                    await start(PROGRESS_SLA, event.at)
                case ComplaintPutOnHold():
                    await self.deadlines.pause(conn, subject, event.at)
                case ComplaintResumed():
                    await self.deadlines.resume(conn, subject, event.at)
                case RegulatoryDeadlineExtended():
                    await self.deadlines.change_duration(
                        conn,
                        subject,
                        REGULATORY_SLA,
                        timedelta(days=event.limit_days),
                        rule=f"Extended to {event.limit_days} days: {event.reason}"[:300],
                    )
                case ComplaintClosed():
                    await self.deadlines.cancel_all(conn, subject, event.at)
                case ComplaintReopened():
                    for sla in (ACKNOWLEDGE_SLA, RESOLVE_SLA, REGULATORY_SLA, PROGRESS_SLA):
                        await start(sla, event.at)
        if state.on_hold:
            # a clock started while the case waits (e.g. the customer left meanwhile) waits too
            await self.deadlines.pause(conn, subject, last_at)
