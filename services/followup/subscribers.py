"""Choreography: the follow-up rules as projections over other contexts' topics (and our own).

Each handler runs inside the projection runner's transaction and appends its task events in that
same transaction (:meth:`FollowUpApp.execute_in`): the reaction and the consumer's progress commit
together, and task ids derived from the causing event make a second delivery a no-op anyway.
The runner runs a whole batch's handlers in one reaction batch (``shared.reactions``): their
commands and ``complaints`` writes are queued and sent together, so every read here (a complaint's
row, its open tasks, a task's stream) flushes what the batch queued first (:meth:`_Reactions.read`).

Progress updates form a chain per open complaint (``services.followup.chain``): the first is
scheduled here at receipt (and at each reopen); each successor is scheduled in the transaction that
ended its predecessor, here only when a rule completed it (the update was recorded on the case).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from services.followup import chain, complaint_rows
from services.followup.app import FollowUpApp
from services.followup.chain import HELD, rule_meta
from services.followup.decider import (
    CancelTask,
    CompleteTask,
    PauseTask,
    ResumeTask,
    ScheduleTask,
    successor_id,
)
from services.followup.decider.rules import TaskRules
from shared import reactions
from shared.clock import Clock
from shared.contracts.complaint import (
    ClockOutcome,
    ClockStart,
    ComplaintAnswered,
    ComplaintClassified,
    ComplaintClosed,
    ComplaintPutOnHold,
    ComplaintReceived,
    ComplaintReopened,
    ComplaintResumed,
    HoldKind,
    InterimResponseSent,
    NewMaterialReceived,
    ProgressUpdateGiven,
    RegulatoryDeadlineExtended,
    RegulatoryMilestoneReached,
    RepeatComplaintMerged,
    ReviewDecided,
    ReviewRequested,
    SolutionImplemented,
)
from shared.contracts.feedback import NegativeFeedbackReceived
from shared.contracts.followup import TaskKind
from shared.contracts.reception import CustomerErased, VisitServed
from shared.customer_aliases import follow_merges
from shared.envelope import Envelope
from shared.eventstore import EventStore
from shared.projection import EventHandlers
from shared.topology import events_topic

#: closing a complaint ends these: the complainant has had the decision
ENDED_BY_CLOSE = (
    TaskKind.progress_update.value,
    TaskKind.inform_complainant.value,
    TaskKind.regulatory_milestone.value,
)
MILESTONE = (TaskKind.regulatory_milestone.value,)
#: a hold stops these clocks (the complainant waits on their own answer or an appraisal); the
#: inform-the-complainant task a hold makes keeps running: they must hear about the hold
PAUSED_BY_HOLD = (TaskKind.progress_update.value,)
RESUMED = "The complaint resumed: the progress-update clock runs again with the time that was left."
_MET_BY = {
    ComplaintAnswered.event_type: "the complainant was given the decision",
    InterimResponseSent.event_type: "the interim response was sent",
    ReviewDecided.event_type: "the review was decided",
}


#: decisions that meet regulatory deadlines, and facts that restart them
DeadlineMeeting = ComplaintAnswered | InterimResponseSent | ReviewDecided
DeadlineRestarting = ReviewRequested | NewMaterialReceived | RepeatComplaintMerged | ComplaintClassified


@dataclass(frozen=True)
class Locked:
    """What :meth:`_Reactions.lock_complaint` read of the complaint's row (all None: unknown)."""

    status: str | None
    customer_ref: str | None
    hold: HoldKind | None


class _Reactions:
    """Shared plumbing of the rule projections: schedule, look up, wake the relay."""

    def __init__(self, app: FollowUpApp, rules: TaskRules, store: EventStore, clock: Clock) -> None:
        self.app = app
        self.rules = rules
        self.store = store
        self.clock = clock

    async def schedule(self, conn: asyncpg.Connection, env: Envelope, command: ScheduleTask | None) -> None:
        if command is None:
            return
        meta = rule_meta(env)
        await self.app.execute_in(conn, command.task_id, command, meta=meta, branch_id=env.branch_id)

    async def next_after(self, conn: asyncpg.Connection, task_id: UUID) -> None:
        """The successor of a progress update this batch just completed by rule (a batched
        reaction's ``after_change`` only queues: the successor is scheduled here, not there)."""
        loaded = await self.app.load(task_id, await self.read(conn))
        link = chain.ended(loaded.state, loaded.history[-1:])
        if link is None:
            return
        ending, since = link
        branch, now = ending.branch_id, self.clock.now()
        commands = await chain.successor(conn, self.rules, loaded.state, branch, since, now)
        for command in commands:
            meta = rule_meta(ending)
            await self.app.execute_in(conn, successor_id(task_id), command, meta=meta, branch_id=branch)

    async def read(self, conn: asyncpg.Connection) -> asyncpg.Connection:
        """``conn``, once what the batch's earlier reactions queued is written (before any read)."""
        await reactions.flush(conn)
        return conn

    async def customer_of(self, conn: asyncpg.Connection, complaint_id: UUID) -> str | None:
        await self.read(conn)
        value = await conn.fetchval(
            "SELECT customer_ref FROM complaints WHERE complaint_id = $1", complaint_id
        )
        return str(value) if value is not None else None

    async def lock_complaint(self, conn: asyncpg.Connection, complaint_id: UUID) -> Locked:
        """Lock the complaint's row and read what the reaction needs of it in the same statement
        (its status, customer, hold: one round trip, not one per column; issue 19). The row's
        customer is never changed by the reactions that lock it (``set_complaint`` keeps it), so
        reading it before their writes is what reading it after them was."""
        await self.read(conn)
        row = await conn.fetchrow(
            "SELECT status, customer_ref, hold_kind FROM complaints WHERE complaint_id = $1 FOR UPDATE",
            complaint_id,
        )
        return _locked(row)

    async def set_hold(self, conn: asyncpg.Connection, complaint_id: UUID, kind: HoldKind | None) -> Locked:
        """Lock the complaint's row and set its hold in one statement (:meth:`lock_complaint`, then
        ``complaint_rows.set_hold``, one round trip less; issue 19); what the row held before
        (nothing written, all None, when the complaint is unknown)."""
        await self.read(conn)
        row = await conn.fetchrow(
            """UPDATE complaints c SET hold_kind = $2
               FROM (SELECT complaint_id, hold_kind FROM complaints WHERE complaint_id = $1 FOR UPDATE) old
               WHERE c.complaint_id = old.complaint_id
               RETURNING c.status, c.customer_ref, old.hold_kind""",
            complaint_id,
            None if kind is None else kind.value,
        )
        return _locked(row)

    async def set_complaint(
        self,
        conn: asyncpg.Connection,
        env: Envelope,
        complaint_id: UUID,
        status: str,
        customer_ref: str | None = None,
    ) -> None:
        await complaint_rows.set_complaint(conn, env, complaint_id, status, customer_ref)

    async def open_tasks(
        self,
        conn: asyncpg.Connection,
        complaint_id: UUID,
        kinds: Sequence[str],
        slas: Sequence[str] | None = None,
        *,
        unless_caused_by: UUID | None = None,
    ) -> list[UUID]:
        """Open tasks of the complaint of these kinds (and, if given, about these regulatory SLAs);
        none if ``unless_caused_by`` is an event of our store (checked in the same statement: one
        round trip, not two; issue 19)."""
        await self.read(conn)
        rows = await conn.fetch(
            """SELECT task_id FROM tasks WHERE complaint_id = $1 AND kind = ANY($2::text[])
               AND status IN ('scheduled', 'contacted')
               AND ($3::text[] IS NULL OR regulatory_sla = ANY($3::text[]))
               AND NOT EXISTS (SELECT 1 FROM events WHERE $4::uuid IS NOT NULL AND event_id = $4)
               ORDER BY due_at""",
            complaint_id,
            list(kinds),
            None if slas is None else list(slas),
            unless_caused_by,
        )
        return [r["task_id"] for r in rows]

    async def end_milestones(
        self,
        conn: asyncpg.Connection,
        env: Envelope,
        complaint_id: UUID,
        slas: Sequence[str],
        command: CompleteTask | CancelTask,
    ) -> None:
        """End the open regulatory milestone tasks of these deadlines (a rule: automatic)."""
        if not slas:
            return
        for task_id in await self.open_tasks(conn, complaint_id, MILESTONE, slas):
            await self.app.execute_in(conn, task_id, command, meta=rule_meta(env))


def _locked(row: asyncpg.Record | None) -> Locked:
    if row is None:
        return Locked(None, None, None)
    customer, hold = row["customer_ref"], row["hold_kind"]
    status = str(row["status"])
    return Locked(status, None if customer is None else str(customer), HoldKind(hold) if hold else None)


def _met(outcomes: Sequence[ClockOutcome]) -> list[str]:
    return sorted({o.sla for o in outcomes})


def _restarted(clocks: Sequence[ClockStart]) -> list[str]:
    return sorted({c.sla for c in clocks})


def task_rules(app: FollowUpApp, rules: TaskRules, store: EventStore, clock: Clock) -> EventHandlers:
    """Every rule that reacts to another context: one consumer group over their three topics.

    Complaints: progress updates while open, verification after a correction, remediation at
    close (one per action), informing the complainant of an extension, a hold and a resume,
    regulatory milestones for the branch head (ended when the decision meets that deadline, when
    it is extended or restarts, or when the case closes). Reception: a callback when a visit's
    next steps promise something by a time; an erased customer's texts are shredded. Feedback: service
    recovery within 24 h of negative feedback.
    """
    r = _Reactions(app, rules, store, clock)
    topics = [events_topic("complaint"), events_topic("reception"), events_topic("feedback")]
    # reception's merges keep the alias tables a customer's history joins refs through (customer_tasks.py)
    proj = follow_merges(EventHandlers("task_rules", topics))

    @proj.on(ComplaintReceived)
    async def received(conn: asyncpg.Connection, env: Envelope, data: ComplaintReceived) -> None:
        customer = data.customer_ref
        await complaint_rows.set_complaint(conn, env, data.complaint_id, "open", customer, first=True)
        await r.schedule(conn, env, rules.on_complaint_received(env, data, clock.now()))

    @proj.on(ComplaintReopened)
    async def reopened(conn: asyncpg.Connection, env: Envelope, data: ComplaintReopened) -> None:
        customer = (await r.lock_complaint(conn, data.complaint_id)).customer_ref
        await r.set_complaint(conn, env, data.complaint_id, "open")
        await r.schedule(conn, env, rules.on_complaint_reopened(env, data, clock.now(), customer))
        await restarted(conn, env, data.complaint_id, data.regulatory_clocks, data.at)

    @proj.on(SolutionImplemented)
    async def implemented(conn: asyncpg.Connection, env: Envelope, data: SolutionImplemented) -> None:
        customer = await r.customer_of(conn, data.complaint_id)
        await r.schedule(conn, env, rules.on_solution_implemented(env, data, clock.now(), customer))

    @proj.on(ComplaintClosed)
    async def closed(conn: asyncpg.Connection, env: Envelope, data: ComplaintClosed) -> None:
        await r.lock_complaint(conn, data.complaint_id)
        await complaint_rows.set_closed(conn, env, data.complaint_id)  # status and hold: one write
        cancel = CancelTask(reason=None, at=data.at, automatic=True, rule="The complaint was closed.")
        for task_id in await r.open_tasks(conn, data.complaint_id, ENDED_BY_CLOSE):
            await app.execute_in(conn, task_id, cancel, meta=rule_meta(env))
        for command in rules.on_complaint_closed(env, data, clock.now()):
            await r.schedule(conn, env, command)

    @proj.on(ProgressUpdateGiven)
    async def update_given(conn: asyncpg.Connection, env: Envelope, data: ProgressUpdateGiven) -> None:
        """The complaint service recorded an update: the open progress tasks are done.

        An update it recorded *because of* one of our events (its causation is in our store) is
        not news: reacting would complete the successor just scheduled, and so on forever."""
        done = CompleteTask(
            at=data.at, automatic=True, rule="Progress update recorded on the case.", about=(data.note,)
        )
        kinds = [TaskKind.progress_update.value]
        for task_id in await r.open_tasks(conn, data.complaint_id, kinds, unless_caused_by=env.causation_id):
            await app.execute_in(conn, task_id, done, meta=rule_meta(env))
            await r.next_after(conn, task_id)

    @proj.on(RegulatoryDeadlineExtended)
    async def extended(conn: asyncpg.Connection, env: Envelope, data: RegulatoryDeadlineExtended) -> None:
        customer = await r.customer_of(conn, data.complaint_id)
        await r.schedule(conn, env, rules.on_deadline_extended(env, data, clock.now(), customer))
        done = CompleteTask(
            at=data.at,
            rule=f"The deadline was extended to {data.limit_days} {data.unit.value.replace('_', ' ')}.",
            automatic=True,
        )
        await r.end_milestones(conn, env, data.complaint_id, [data.sla], done)

    # ------------------------------------------------------------ regulatory profiles (issue 8)

    @proj.on(ComplaintPutOnHold)
    async def on_hold(conn: asyncpg.Connection, env: Envelope, data: ComplaintPutOnHold) -> None:
        """The case waits: the progress-update clocks stop (the chain locks the same row first,
        so a successor scheduled meanwhile sees the hold and starts paused)."""
        customer = (await r.set_hold(conn, data.complaint_id, data.kind)).customer_ref  # the lock too
        for task_id in await r.open_tasks(conn, data.complaint_id, PAUSED_BY_HOLD):
            await app.execute_in(conn, task_id, PauseTask(at=data.at, rule=HELD), meta=rule_meta(env))
        await r.schedule(conn, env, rules.on_put_on_hold(env, data, clock.now(), customer))

    @proj.on(ComplaintResumed)
    async def resumed(conn: asyncpg.Connection, env: Envelope, data: ComplaintResumed) -> None:
        """The case moves again: each paused progress update resumes with the time it had left."""
        locked = await r.set_hold(conn, data.complaint_id, None)  # the lock too, and the hold it ends
        for task_id in await r.open_tasks(conn, data.complaint_id, PAUSED_BY_HOLD):
            await app.execute_in(conn, task_id, ResumeTask(at=data.at, rule=RESUMED), meta=rule_meta(env))
        rule = rules.on_resumed(env, data, clock.now(), locked.customer_ref, locked.hold)
        await r.schedule(conn, env, rule)

    @proj.on(RegulatoryMilestoneReached)
    async def milestone(conn: asyncpg.Connection, env: Envelope, data: RegulatoryMilestoneReached) -> None:
        await r.schedule(conn, env, rules.on_regulatory_milestone(env, data, clock.now()))

    @proj.on(ComplaintAnswered, InterimResponseSent, ReviewDecided)
    async def met(conn: asyncpg.Connection, env: Envelope, data: DeadlineMeeting) -> None:
        """A decision (answer, interim reply, review decision) met these deadlines: done."""
        rule = f"Deadline met: {_MET_BY.get(env.type, env.type)}."
        done = CompleteTask(at=data.at, rule=rule, automatic=True)
        await r.end_milestones(conn, env, data.complaint_id, _met(data.regulatory_outcomes), done)

    @proj.on(ReviewRequested, NewMaterialReceived, RepeatComplaintMerged, ComplaintClassified)
    async def restarted_by(conn: asyncpg.Connection, env: Envelope, data: DeadlineRestarting) -> None:
        await restarted(conn, env, data.complaint_id, data.regulatory_clocks, data.at)

    async def restarted(
        conn: asyncpg.Connection, env: Envelope, complaint_id: UUID, clocks: list[ClockStart], at: datetime
    ) -> None:
        """These deadlines started again (new facts, reopen, reclassification): the old warnings
        are moot; the complaint service warns again before the new limit."""
        cancel = CancelTask(reason=None, at=at, automatic=True, rule=f"The deadline restarted ({env.type}).")
        await r.end_milestones(conn, env, complaint_id, _restarted(clocks), cancel)

    @proj.on(VisitServed)
    async def served(conn: asyncpg.Connection, env: Envelope, data: VisitServed) -> None:
        await r.schedule(conn, env, rules.on_visit_served(env, data, clock.now()))

    @proj.on(NegativeFeedbackReceived)
    async def negative(conn: asyncpg.Connection, env: Envelope, data: NegativeFeedbackReceived) -> None:
        await r.schedule(conn, env, rules.on_negative_feedback(env, data, clock.now()))

    @proj.on(CustomerErased)
    async def erased(conn: asyncpg.Connection, env: Envelope, data: CustomerErased) -> None:
        """The vault erased a customer: the notes follow-up keeps about them are shredded."""
        await app.texts.erase_customer(await r.read(conn), data.customer_ref)

    return proj
