"""The reception SLAs on the shared clock: the lobby wait and the phone answer.

- ``reception.wait`` starts when a ticket is issued, is met by the first call to a counter and is
  cancelled when the visit ends otherwise; its milestones (at risk at the target, 15 min by
  default; breached at 30 min) fire while the customer still waits.
- ``reception.phone_answer`` starts when a call rings and is met when it is answered (cancelled
  instead when the answer itself breaches it by too many rings, and when a call ends unanswered).

Both run in the command's transaction (a visit's deadlines queued with its append).
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from services.reception.catalogue import Catalogue
from services.reception.decider import Visit
from services.reception.decider import stream_id as visit_stream
from services.reception.phone import PhoneCall
from services.reception.phone import stream_id as call_stream
from shared.contracts.reception import (
    CallAnswered,
    CallEnded,
    CallReceived,
    VisitCalled,
    VisitLeft,
    VisitQueued,
)
from shared.contracts.sla import SlaBreached
from shared.envelope import Envelope
from shared.sla.deadlines import Deadlines
from shared.sla.subject import Subject

WAIT = "reception.wait"
PHONE = "reception.phone_answer"
_VISIT_CLOCK = {VisitQueued.event_type, VisitCalled.event_type, VisitLeft.event_type}


class ReceptionSlas:
    def __init__(self, deadlines: Deadlines, catalogue: Catalogue) -> None:
        self.deadlines = deadlines
        self.catalogue = catalogue

    @staticmethod
    def moves_visit(envelopes: Sequence[Envelope]) -> bool:
        """Whether :meth:`on_visit` changes a deadline for these events (else it reads nothing)."""
        return any(e.type in _VISIT_CLOCK for e in envelopes)

    async def on_visit(
        self,
        conn: asyncpg.Connection,
        state: Visit,
        envelopes: Sequence[Envelope],
        deadlines: Deadlines | None = None,
    ) -> None:
        """The wait clock follows the visit; ``deadlines`` is the visit's ``DeadlineCache`` when
        the caller writes them in one statement afterwards (default: read and write at once)."""
        assert state.visit_id is not None
        subject = str(state.visit_id)
        clock = deadlines or self.deadlines
        for env in envelopes:
            if env.type == VisitQueued.event_type:
                line = str(env.data["line"])
                policy = self.catalogue.wait_policy(line, self.deadlines.book.policy(WAIT, env.branch_id))
                started = env.occurred_at if state.queued_at is None else state.queued_at
                about = Subject("visit", subject, visit_stream(state.visit_id), env.branch_id)
                await clock.start(conn, subject=about, sla=WAIT, started_at=started, policy=policy)
            elif env.type == VisitCalled.event_type and env.data["call_number"] == 1:
                await clock.meet(conn, subject, WAIT, env.occurred_at)
            elif env.type == VisitLeft.event_type:
                await clock.cancel(conn, subject, WAIT, env.occurred_at)

    async def on_call(
        self, conn: asyncpg.Connection, state: PhoneCall, envelopes: Sequence[Envelope]
    ) -> None:
        assert state.call_id is not None
        subject = str(state.call_id)
        for env in envelopes:
            if env.type == CallReceived.event_type:
                about = Subject("call", subject, call_stream(state.call_id), env.branch_id)
                started = state.received_at or env.occurred_at
                await self.deadlines.start(conn, subject=about, sla=PHONE, started_at=started)
            elif env.type == CallAnswered.event_type:
                if any(e.type == SlaBreached.event_type for e in envelopes):
                    # breached by the ring count at answer time (the event is in this batch and
                    # counted by the app): not "met", so the SLI does not count it both ways
                    await self.deadlines.cancel(conn, subject, PHONE, env.occurred_at)
                else:
                    await self.deadlines.meet(conn, subject, PHONE, env.occurred_at)
            elif env.type == CallEnded.event_type:
                await self.deadlines.cancel(conn, subject, PHONE, env.occurred_at)
