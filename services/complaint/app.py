"""Complaint command handling: the decider behind a CommandHandler, with deadlines and the board
written in the same transaction as the events (``after_append``).

Commands arrive three ways, all through the same decider:

- HTTP (``execute``): one transaction of its own, optimistic concurrency, ``If-Match``;
- the deadline scheduler (``on_fire``): inside the scheduler's transaction, which also marks the
  milestone fired, so an SLA event is recorded exactly once;
- other contexts' events (``react``): inside the projection's transaction, which also records the
  consumed position, so a redelivered event changes nothing. The new case's id is derived from the
  causing event (uuid5) and the decider refuses a second receipt, so the reaction is idempotent by
  construction as well.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from uuid import NAMESPACE_URL, UUID, uuid5

import asyncpg

from services.complaint import projections
from services.complaint.case_read import CASE_READ, CaseRead
from services.complaint.clocks import ComplaintClocks
from services.complaint.config import ComplaintSettings
from services.complaint.decider import ComplaintDecider
from services.complaint.domain import (
    Command,
    Complaint,
    HandleFailedVerification,
    ReceiveComplaint,
    RecordCustomerLeft,
    RecordRepeat,
    RecordSlaAtRisk,
    RecordSlaBreached,
    SlaFacts,
    Status,
    make_decider,
    stream_id,
)
from services.complaint.metrics import COMPLAINTS_BY_STATUS, COMPLAINTS_ON_HOLD
from services.complaint.regclocks import ClockMath
from services.complaint.regulation import branch_calendar_name
from shared.actors import SLA_CLOCK
from shared.commands import CheckBranch, CommandHandler, CommandResult, Loaded, PendingTexts
from shared.contracts.complaint import Category, Channel
from shared.contracts.feedback import NegativeFeedbackReceived
from shared.contracts.followup import VerificationFailed
from shared.contracts.reception import ComplaintRaisedDuringVisit, CustomerErased, VisitLeft
from shared.contracts.text import TextRef
from shared.decider import DomainError
from shared.envelope import Envelope, Metadata
from shared.idempotency import Create
from shared.metrics import SLA_BREACHES, SLA_MET
from shared.periodic import every
from shared.runner import ServiceContext, components_of
from shared.sla.deadlines import Deadline, Deadlines
from shared.sla.policy import PolicyBook
from shared.sla.scheduler import DeadlineScheduler, Kind
from shared.stream_cache import StreamCache
from shared.stream_commands import StreamCommands
from shared.texts import PrivateTexts, texts_for

log = logging.getLogger(__name__)

#: namespace of case ids derived from the event that caused the case
CASE_NAMESPACE = uuid5(NAMESPACE_URL, "https://branchcare/complaint/case-from-event")
SLA_ACTOR = SLA_CLOCK
DEPARTURES_KEPT = timedelta(days=7)


def case_id_for(event_id: UUID) -> UUID:
    """The complaint opened because of another context's event: one event, one case, ever."""
    return uuid5(CASE_NAMESPACE, str(event_id))


def reaction_meta(env: Envelope) -> Metadata:
    return Metadata(actor=env.actor, correlation_id=env.correlation_id, causation_id=env.event_id)


class ComplaintApp:
    def __init__(
        self,
        ctx: ServiceContext,
        settings: ComplaintSettings | None = None,
        book: PolicyBook | None = None,
    ) -> None:
        self.ctx = ctx
        self.clock = ctx.clock
        self.store = ctx.store
        self.pool = ctx.pool
        self.texts: PrivateTexts = texts_for(ctx)
        self.settings = settings or ComplaintSettings()
        self.book = book or PolicyBook.load()
        self.rules = self.settings.rules(self.book)
        self.regulation = self.settings.regulation(self.book)
        self.math = ClockMath(self.regulation)
        self.decider = make_decider(self.rules, self.regulation)
        #: the same rules' refusals without their events, for the case view's allowed steps
        self.refusal = ComplaintDecider(self.rules, self.regulation).refusal
        self.deadlines = Deadlines("complaint", ctx.clock, self.book)
        self.clocks = ComplaintClocks(self.deadlines, ctx.registry, self.math)
        for profile in self.regulation.profiles.values():  # the profiles' own SLAs start at 0 too
            for clock in profile.clocks.values():
                SLA_BREACHES.labels("complaint", clock.sla)
                SLA_MET.labels("complaint", clock.sla)
        self.stream_cache: StreamCache[Complaint] = StreamCache(self.settings.stream_cache_size)
        #: staff commands on a case and its load: the shared entry points every service offers
        self.handler: CommandHandler[Command, Complaint] = CommandHandler(
            "complaint",  # the service, its store, the decider and the clock: types mypy tells apart
            ctx.store,
            self.decider,
            ctx.clock,
            after_change=self._after_change,
            text_keys=True,
            # ``_after_change`` reads the case's deadlines and queues every write: a staff command's
            # writes go as one statement, without BEGIN and COMMIT (``shared.one_statement``)
            one_statement=True,
            read_with=CASE_READ,
            # the cases' decoded streams by version: a step decodes only the events after them
            stream_cache=self.stream_cache,
        )
        self.cases = StreamCommands(self.handler, stream_id=stream_id, noun="complaint")
        self.execute = self.cases.execute
        self.get = self.cases.load
        self.scheduler = DeadlineScheduler(
            self.deadlines, ctx.pool, self.on_fire, period=self.settings.scheduler_period_seconds
        )

    async def _after_change(
        self,
        conn: asyncpg.Connection,
        before: Complaint,
        state: Complaint,
        envelopes: Sequence[Envelope],
        read: CaseRead | None = None,
    ) -> list[Deadline]:
        """Deadlines and the board row, queued with the append (``shared.db_batch``); the case's
        deadlines after the command come back for the answer (no second read). ``read``: what
        was read with the stream (``case_read``: its deadlines), else they are read here."""
        deadlines = await self.clocks.apply(conn, state, envelopes, read.deadlines if read else None)
        await projections.write_board(conn, before, state, envelopes)
        return deadlines

    # ------------------------------------------------------------------------------- commands

    async def receive(
        self,
        branch_id: str,
        *,
        channel: Channel,
        customer_ref: str,
        description: TextRef,
        visit_id: UUID | None,
        meta: Metadata,
        business_type: str | None = None,
        matter_key: str | None = None,
        category: Category | None = None,
        about_staff: tuple[str, ...] = (),
        collective: bool = False,
        representatives: tuple[str, ...] = (),
        new_facts: bool = False,
        check_branch: CheckBranch | None = None,
        create: Create | None = None,
        texts: PendingTexts | None = None,
    ) -> tuple[CommandResult[Complaint], bool]:
        """Record a complaint under the branch's regulatory profile; ``(result, merged)``.

        Under a profile that merges repeats (cn-2020), the same complainant raising the same matter
        (``matter_key``, or the content category) while a case about it is open in the same branch
        is recorded on that case (``merged``): no new case, no new clock. An advisory lock per
        complainant makes two simultaneous receipts of one repeat see each other.

        Only cases of the receiving branch are candidates: staff of one branch never write to (or
        learn the id and deadlines of) another branch's case; a repeat raised in another branch
        opens a case there (HQ's repeat-complainant detection sees both).

        With an idempotency key (``create``) the key is claimed first in the transaction: a retry
        raises :class:`~shared.idempotency.AlreadyCreated` naming the case the first request
        opened or merged into; a new case's id is derived from the key."""
        create = create or Create.none()
        profile = self.regulation.profile_for_branch(branch_id)
        key = matter_key or (f"category:{category.value}" if category is not None else None)
        now = self.clock.now()
        merging = profile.merge_repeats and key is not None

        async def record(conn: asyncpg.Connection) -> tuple[CommandResult[Complaint], bool]:
            await create.claim(conn)
            if merging:
                assert key is not None
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"complaint:{customer_ref}")
                open_case = await projections.open_case_for_matter(
                    conn, customer_ref, key, profile.name, branch_id
                )
                if open_case is not None:
                    repeat = RecordRepeat(now, channel, customer_ref, description, key, branch_id, new_facts)
                    merged = await self.handler.execute_in(
                        conn, stream_id(open_case), repeat, meta=meta, check_branch=check_branch, texts=texts
                    )
                    await create.record(conn, str(open_case), 200)
                    return merged, True
            left_at = None
            if visit_id is not None and channel is Channel.in_branch:
                left_at = await projections.departure(conn, visit_id)
            complaint_id = create.new_id()
            command = ReceiveComplaint(
                complaint_id=complaint_id,
                channel=channel,
                customer_ref=customer_ref,
                description=description,
                received_at=now,
                visit_id=visit_id,
                customer_left_at=left_at,
                profile=profile.name,
                calendar=branch_calendar_name(self.book, branch_id, profile),
                business_type=business_type,
                matter_key=key,
                about_staff=about_staff,
                collective=collective,
                representatives=representatives,
            )
            # a new stream (fresh or key-derived id, the key claimed above): no savepoint, no load;
            # the handler's own execute_in: this transaction pokes the relay when it commits, so
            # no delayed pokes (each would wake the relay for two empty reads: issue 19)
            result = await self.handler.execute_in(
                conn,
                stream_id(complaint_id),
                command,
                meta=meta,
                branch_id=branch_id,
                must_exist=False,
                check_branch=check_branch,
                texts=texts,
                savepoint=False,
            )
            await create.record(conn, str(complaint_id), 201)
            return result, False

        if create.keyed or merging:  # the key's claim, the complainant's lock: a transaction
            async with self.store.transaction() as conn:
                received = await record(conn)
        else:  # a plain receipt locks nothing and queues every write: one statement, no BEGIN/COMMIT
            received = await self.store.one_statement(record)
        result, merged = received
        if not merged and result.state.complaint_id is not None:  # a new stream, committed: cached
            empty = Loaded(self.decider.initial_state, 0, [])
            self.stream_cache.appended(
                stream_id(result.state.complaint_id), empty, result.state, result.events
            )
        return received

    async def execute_in(
        self,
        conn: asyncpg.Connection,
        stream: str,
        command: Command,
        *,
        meta: Metadata,
        branch_id: str | None = None,
        must_exist: bool = True,
        check_branch: CheckBranch | None = None,
        texts: PendingTexts | None = None,
        savepoint: bool = True,
    ) -> CommandResult[Complaint]:
        """Run a command inside the caller's transaction (a savepoint, retried on a conflict;
        ``savepoint=False``: a new stream, see ``CommandHandler.execute_in``).

        The caller commits; the relay is poked just after that (a lost poke only costs its 1 s
        safety timer), so the new events go out promptly. ``check_branch`` (a staff member's)
        sees the stream's branch before anything is decided.
        """
        self._wake_relay_soon()
        return await self.handler.execute_in(
            conn,
            stream,
            command,
            meta=meta,
            branch_id=branch_id,
            must_exist=must_exist,
            check_branch=check_branch,
            texts=texts,
            savepoint=savepoint,
        )

    def _wake_relay_soon(self) -> None:
        loop = asyncio.get_running_loop()
        for delay in (0.05, 0.25):
            loop.call_later(delay, self.store.notifier.poke)

    # -------------------------------------------------------------------------------- queries

    async def deadlines_of(self, complaint_id: UUID) -> list[Deadline]:
        async with self.pool.acquire() as conn:
            return await self.deadlines.list_for(conn, str(complaint_id))

    # ----------------------------------------------------------------------------- SLA clock

    async def on_fire(self, conn: asyncpg.Connection, deadline: Deadline, kind: Kind, at: datetime) -> None:
        """The scheduler reached a milestone: record it on the case (and escalate on a breach)."""
        if deadline.subject_type != "complaint":
            return
        facts = SlaFacts(
            deadline.deadline_id,
            deadline.sla,
            deadline.policy,
            deadline.started_at,
            deadline.due_at or at,
            deadline.rule,
        )
        command: Command
        if kind == "breached":
            command = RecordSlaBreached(at, facts)
        else:
            fraction = float(deadline.fired[-1].partition(":")[2] or 0.8)
            command = RecordSlaAtRisk(at, facts, min(max(fraction, 0.0), 1.0))
        try:
            await self.execute_in(conn, deadline.stream_id, command, meta=Metadata(actor=SLA_ACTOR))
        except DomainError as exc:  # e.g. the case closed meanwhile: nothing to record
            log.info("complaint %s: %s %s not recorded: %s", deadline.subject_id, deadline.sla, kind, exc)

    # ---------------------------------------------------------------- other contexts' events

    async def react(self, conn: asyncpg.Connection, env: Envelope, data: object) -> None:
        """Choreography: open, update or reopen a case because of another context's event."""
        try:
            match data:
                case ComplaintRaisedDuringVisit():
                    await self._open_case(
                        conn,
                        env,
                        Channel.in_branch,
                        data.customer_ref,
                        data.description,
                        data.at,
                        data.visit_id,
                    )
                case NegativeFeedbackReceived() if data.describes_complaint:
                    kind, _, ref = data.subject.partition(":")
                    visit_id = _uuid(ref) if kind == "visit" else None
                    await self._open_case(
                        conn, env, Channel.survey, data.customer_ref, data.comment, data.at, visit_id
                    )
                case VisitLeft():
                    await self._customer_left(conn, env, data)
                case VerificationFailed():
                    failed = HandleFailedVerification(data.at, data.finding, env.event_id)
                    await self.execute_in(conn, stream_id(data.complaint_id), failed, meta=reaction_meta(env))
                case CustomerErased():
                    shredded = await self.texts.erase_customer(conn, data.customer_ref)
                    log.info("complaint: a customer was erased; %d texts shredded", shredded)
        except DomainError as exc:  # already done, or nothing to do: the reaction is a no-op
            log.info("complaint reaction to %s %s: %s", env.type, env.event_id, exc)

    async def _customer_left(self, conn: asyncpg.Connection, env: Envelope, data: VisitLeft) -> None:
        """Remember the departure (a case may be recorded later) and start a linked case's clock."""
        await projections.record_departure(conn, data.visit_id, env.branch_id, data.at)
        case_id = await projections.open_case_for_visit(conn, data.visit_id)
        if case_id is not None:
            left = RecordCustomerLeft(data.at, data.visit_id)
            await self.execute_in(conn, stream_id(case_id), left, meta=reaction_meta(env))

    async def _open_case(
        self,
        conn: asyncpg.Connection,
        env: Envelope,
        channel: Channel,
        customer_ref: str,
        description: TextRef | None,
        at: datetime,
        visit_id: UUID | None,
    ) -> None:
        complaint_id = case_id_for(env.event_id)
        left_at = await projections.departure(conn, visit_id) if visit_id is not None else None
        profile = self.regulation.profile_for_branch(env.branch_id)
        command = ReceiveComplaint(
            complaint_id=complaint_id,
            channel=channel,
            customer_ref=customer_ref,
            description=description,
            received_at=at,
            visit_id=visit_id,
            source_event_id=env.event_id,
            customer_left_at=left_at,
            profile=profile.name,
            calendar=branch_calendar_name(self.book, env.branch_id, profile),
        )
        await self.execute_in(
            conn,
            stream_id(complaint_id),
            command,
            meta=reaction_meta(env),
            branch_id=env.branch_id,
            must_exist=False,
        )

    # ------------------------------------------------------------------------- maintenance

    async def refresh_gauges(self) -> None:
        async with self.pool.acquire() as conn:
            counts, on_hold = await projections.status_counts(conn)
            await projections.prune_departures(conn, self.clock.now() - DEPARTURES_KEPT)
        for status in Status:
            if status is not Status.none:
                COMPLAINTS_BY_STATUS.labels(status.value).set(counts.get(status.value, 0))
        COMPLAINTS_ON_HOLD.set(on_hold)

    async def maintain(self) -> None:
        """Background task: keep the status gauges fresh (every replica reads the same board)."""
        await every(
            lambda: self.settings.gauge_period_seconds,
            self.refresh_gauges,
            name="complaint: refreshing the status gauges",
            logger=log,
        )


def _uuid(text: str) -> UUID | None:
    try:
        return UUID(text)
    except ValueError:
        return None


def app_for(ctx: ServiceContext) -> ComplaintApp:
    """The service's one ComplaintApp (built at start-up: ``service.py``)."""
    return components_of(ctx, ComplaintApp)


async def run_scheduler(ctx: ServiceContext) -> None:
    await app_for(ctx).scheduler.run()


async def run_maintenance(ctx: ServiceContext) -> None:
    await app_for(ctx).maintain()
