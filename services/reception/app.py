"""Reception command handling: visits and phone calls, their read models and SLA deadlines.

Every command runs in one transaction (``shared.commands.CommandHandler`` with a command built
inside it), but two hot ones that need none: an arrival without an idempotency key (its ticket
number taken by a statement of its own, then its writes as one statement: ``tickets.py``,
``shared.one_statement``) and call-next (``call_next.py``). Catalogue look-ups and ticket numbers
are resolved here and handed to the pure deciders inside the commands. Lock order, the same
everywhere (so concurrent commands and the SLA scheduler never deadlock): the subject's deadline
rows, then ticket counter, then the stream's events, then read-model rows (visits, counters).

Round trips (issue 19): one statement locks and reads the deadline rows and loads the stream
(``locks.py``); a visit's event, lobby rows and wait clock are queued (``shared.db_batch``) and go
to PostgreSQL as one statement at commit, with the audit row; a new visit locks and loads nothing
(its id is new: no deadline row of it exists for the scheduler to hold). call-next locks nothing:
its first statement picks and reads, its second writes and checks (``call_next.py``). The locks of
one statement are taken in the order PostgreSQL runs its parts: a cycle with another writer is
still possible, and is retried as a deadlock (``CommandHandler``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import Any, TypeVar, Unpack
from uuid import UUID

import asyncpg

from services.reception import decider as v
from services.reception import locks, tickets
from services.reception import phone as p
from services.reception.call_next import VisitTaken, next_in_line
from services.reception.catalogue import Catalogue
from services.reception.command_types import CallStep, Options, Start, SubjectLocks, VisitStep
from services.reception.counter_app import Counters
from services.reception.gauges import refresh_gauges
from services.reception.metrics import (
    observe,
    touch_metrics,
)
from services.reception.projections import CallRows, VisitRows, local_day
from services.reception.sla_events import fired_event
from services.reception.slas import PHONE, ReceptionSlas
from services.reception.tickets import next_number
from shared.actors import SLA_CLOCK
from shared.commands import (
    CommandHandler,
    CommandResult,
    Loaded,
    Locked,
    PendingTexts,
)
from shared.contracts.reception import (
    ERASURE_BRANCH,
    Accessibility,
    CustomerErased,
    Priority,
    ServiceType,
    erasure_stream,
)
from shared.contracts.sla import SlaBreached
from shared.contracts.text import TextRef
from shared.decider import DomainError, NotFound
from shared.envelope import Envelope, Metadata
from shared.idempotency import Create, claim_first
from shared.periodic import every
from shared.runner import ServiceContext
from shared.sla.deadlines import Deadline, DeadlineCache, Deadlines
from shared.sla.policy import PolicyBook
from shared.sla.scheduler import DeadlineScheduler, Kind
from shared.texts import PrivateTexts, texts_for

log = logging.getLogger(__name__)

SERVICE = "reception"
#: the actor of SLA events appended by the scheduler
SLA_ACTOR = SLA_CLOCK
#: a ticket for a command the decider refuses before using it (no line known yet)
_NO_TICKET = "X000"

S = TypeVar("S")
C = TypeVar("C")


class Reception:
    """The reception application: built once per running service (``components.py``)."""

    def __init__(
        self,
        ctx: ServiceContext,
        *,
        catalogue: Catalogue | None = None,
        book: PolicyBook | None = None,
    ) -> None:
        self.pool = ctx.pool
        self.store = ctx.store
        self.clock = ctx.clock
        self.texts: PrivateTexts = texts_for(ctx)
        self.catalogue = catalogue or Catalogue.load()
        self.book = book or PolicyBook.load()
        self.deadlines = Deadlines(SERVICE, ctx.clock, self.book)
        self.slas = ReceptionSlas(self.deadlines, self.catalogue)
        self.visit_rows = VisitRows(self.book)
        self.call_rows = CallRows()
        # commands on visits and calls: built in their transaction, the deadline rows locked first
        handler = partial(
            CommandHandler,
            service=SERVICE,
            store=self.store,
            clock=self.clock,
            retries=5,
            lock_first=self.lock_deadlines,
        )
        self.visits = handler(decider=v.visit_decider, after_change=self._after_visit, text_keys=True)
        self.calls = handler(decider=p.call_decider, after_append=self._after_call)
        self.counters = Counters(SERVICE, ctx.store, ctx.clock, self.book)
        self.scheduler = DeadlineScheduler(self.deadlines, ctx.pool, self._on_fire)
        self.deadlines.touch_metrics()
        touch_metrics(self.catalogue.lines)

    async def lock_deadlines(self, conn: asyncpg.Connection, stream_id: str, stream_sql: str) -> Locked:
        """A visit's or call's SLA deadline rows, locked first (``visit-<id>`` → subject ``<id>``),
        read by the same statement together with the stream (``stream_sql``).

        Why first: the SLA scheduler locks a deadline row and then appends to the subject's
        stream; a command that appended first and then touched the row would wait for the
        scheduler while the scheduler waits for it. The command's deadlines are then changed in
        memory and written with its append (:meth:`_after_visit`), with no second read."""
        return await locks.lock_subject(conn, self.deadlines, stream_id, stream_sql)

    # ------------------------------------------------------------------------------- visits

    def arrival(
        self,
        *,
        arrival: str = "walk_in",
        returning: bool = False,
        customer_ref: str | None = None,
        display_name: str | None = None,
        relationship_manager: str | None = None,
        priority: Priority | None = None,
        accessibility: Sequence[Accessibility] = (),
        service_type: ServiceType | None = None,
        notes: TextRef | None = None,
    ) -> Start:
        """An arrival (for :meth:`arrive`); with ``service_type`` the customer is queued at once
        (ticket machine or appointment: the need is known, no documents to check at the desk)."""
        now = self.clock.now()

        def start(branch_id: str, visit_id: UUID) -> VisitStep:
            taken = tickets.Taken()  # a number taken on its own, kept for a re-run of the command

            async def make(conn: asyncpg.Connection, loaded: Loaded[v.Visit]) -> v.Arrive:
                command = v.Arrive(
                    visit_id=visit_id,
                    arrival=arrival,
                    at=now,
                    returning=returning,
                    customer_ref=customer_ref,
                    display_name=display_name,
                    relationship_manager=relationship_manager,
                    priority=priority,
                    accessibility=tuple(accessibility),
                )
                if service_type is None:
                    return command
                line = self.catalogue.line_for(service_type, relationship_manager=bool(relationship_manager))
                day = local_day(self.book, branch_id, now)
                express = v.Express(
                    service_type=service_type, line=line.name, ticket=_NO_TICKET, day=day, notes=notes
                )
                # checked first: a refused arrival takes no number (outside a transaction the
                # number commits on its own: ``tickets.py``)
                v.check_arrival(loaded.state, replace(command, express=express))
                number = await tickets.take(conn, branch_id, line.name, day, taken)
                return replace(command, express=replace(express, ticket=line.ticket(number)))

            return make

        return start

    async def arrive(
        self,
        branch_id: str,
        start: Start,
        *,
        meta: Metadata,
        texts: PendingTexts | None = None,
        create: Create | None = None,
    ) -> CommandResult[v.Visit]:
        """Register an arrival (:meth:`arrival`). With an idempotency key (``create``) the visit id
        derives from it and the key is claimed first in the transaction: a retry raises
        :class:`~shared.idempotency.AlreadyCreated`."""
        create = create or Create.none()
        visit_id = create.new_id()
        stream = v.stream_id(visit_id)
        if create.keyed:  # the key's claim commits or rolls back with the visit: a transaction
            claimed = claim_first(create, start(branch_id, visit_id), resource_id=str(visit_id), status=201)
            return self._observed(
                await self.visits.execute(
                    stream,
                    claimed,
                    meta=meta,
                    branch_id=branch_id,
                    must_exist=False,
                    texts=texts,
                    fresh=True,  # a new id (the key's, claimed first): nothing to lock or load
                )
            )

        command = start(branch_id, visit_id)  # one builder: a re-run keeps the number it took

        async def record(conn: asyncpg.Connection) -> CommandResult[v.Visit]:
            # a new stream (a random id): nothing to lock or load, no savepoint; its writes are
            # queued and go with the append as one statement when this returns
            return await self.visits.execute_in(
                conn,
                stream,
                command,
                meta=meta,
                branch_id=branch_id,
                must_exist=False,
                texts=texts,
                savepoint=False,
            )

        return self._observed(await self.store.one_statement(record))

    async def visit(
        self, visit_id: UUID, command: VisitStep, *, meta: Metadata, **options: Unpack[Options]
    ) -> CommandResult[v.Visit]:
        """Run a visit command (or a ``make(conn, loaded)`` builder) in one transaction;
        ``check_branch`` sees the visit's branch before anything else happens; ``texts`` (the
        refs the command carries) are stored in the same transaction."""
        return self._observed(await self.visits.execute(v.stream_id(visit_id), command, meta=meta, **options))

    def confirm_need(self, service_type: ServiceType, notes: TextRef | None) -> VisitStep:
        async def make(conn: asyncpg.Connection, loaded: Loaded[v.Visit]) -> v.ConfirmNeed:
            routed = loaded.state.relationship_manager is not None
            line = self.catalogue.line_for(service_type, relationship_manager=routed)
            return v.ConfirmNeed(service_type=service_type, line=line.name, at=self.clock.now(), notes=notes)

        return make

    def guide(self, notes: TextRef | None) -> VisitStep:
        async def make(conn: asyncpg.Connection, loaded: Loaded[v.Visit]) -> v.Guide:
            service_type = loaded.state.service_type
            required = self.catalogue.required(service_type) if service_type else ()
            return v.Guide(required_materials=required, at=self.clock.now(), notes=notes)

        return make

    def queue(self) -> VisitStep:
        async def make(conn: asyncpg.Connection, loaded: Loaded[v.Visit]) -> v.Queue:
            now = self.clock.now()
            branch_id = loaded.history[0].branch_id
            day = local_day(self.book, branch_id, now)
            line = loaded.state.line
            ready = loaded.state.status in (v.Status.documents_complete, v.Status.guided)
            if line is None or not ready:
                # refused by the decider: nothing allocated
                return v.Queue(ticket=_NO_TICKET, day=day, at=now)
            spec = self.catalogue.lines.get(line)
            if spec is None:
                raise DomainError(f"line {line} is no longer in the catalogue: confirm the need again")
            number = await next_number(conn, branch_id, line, day)
            return v.Queue(ticket=spec.ticket(number), day=day, at=now)

        return make

    def call(
        self, counter_id: str, staff_id: str, *, meta: Metadata | None = None, only_if_queued: bool = False
    ) -> VisitStep:
        """Call the visit to a counter: the counter must be free and not paused; a closed counter
        is opened by the call (``counter.py``), in the call's own transaction."""

        async def make(conn: asyncpg.Connection, loaded: Loaded[v.Visit]) -> v.Call:
            if only_if_queued and loaded.state.status is not v.Status.queued:
                raise VisitTaken()
            branch_id = loaded.history[0].branch_id
            busy, counter = await locks.counter_row(conn, loaded.locked, branch_id, counter_id)
            if (
                busy is not None
                and busy["visit_id"] is not None
                and busy["visit_id"] != loaded.state.visit_id
            ):
                raise DomainError(
                    f"counter {counter_id} is busy with ticket {busy['ticket']}: "
                    "serve that customer (or record that they left) first"
                )
            now = self.clock.now()
            if (
                loaded.state.status in v.WAITING
                and loaded.state.calls < v.MAX_CALLS
                and not self._open_today(busy, branch_id, now)
            ):
                actor = meta or Metadata(actor=staff_id)
                await self.counters.before_call(
                    conn,
                    branch_id,
                    counter_id,
                    staff_id,
                    now,
                    actor,
                    preloaded=counter,
                    call_locks=loaded.locked,
                )
            return v.Call(counter_id=counter_id, staff_id=staff_id, at=now)

        return make

    def _open_today(self, row: Any, branch_id: str, now: datetime) -> bool:
        """Whether the counter's row (locked, written in every counter command's transaction, so
        it says what the counter's stream says) shows it open since today: then the call changes
        nothing on the counter (``counter.py``, ``BeforeCall``) and its stream need not be read."""
        if row is None or row["state"] != "open" or row["state_since"] is None:
            return False
        return bool(row["state_since"] >= self.counters.day_start(branch_id, now))

    #: call the next customer of a line to a counter (``call_next.py``: one transaction)
    call_next = next_in_line

    def serve(
        self, outcome: TextRef | None, next_steps: TextRef | None, promised_by: datetime | None
    ) -> VisitStep:
        async def make(conn: asyncpg.Connection, loaded: Loaded[v.Visit]) -> v.Serve:
            return v.Serve(
                outcome=outcome, at=self.clock.now(), next_steps=next_steps, promised_by=promised_by
            )

        return make

    def now(self) -> datetime:
        return self.clock.now()

    async def load_visit(self, visit_id: UUID) -> Loaded[v.Visit]:
        return await _existing(self.visits, v.stream_id(visit_id), f"visit {visit_id}")

    async def _after_visit(
        self,
        conn: asyncpg.Connection,
        before: v.Visit,
        state: v.Visit,
        envelopes: Sequence[Envelope],
        locked: object = None,
    ) -> None:
        """The lobby rows and the wait clock, queued with the append (``shared.db_batch``): one
        statement with it in a command's transaction, at once in the scheduler's."""
        first = locked if isinstance(locked, SubjectLocks) else None
        opened = first.opened[-1] if first and first.opened else None  # the counter this call opened
        # call-next's counter row, read without a lock: written only if still as read
        read = first.counter if first else None
        await self.visit_rows.queue(conn, state, envelopes, opened=opened, read=read)
        if not self.slas.moves_visit(envelopes):
            return
        deadlines = await self._visit_deadlines(conn, state, envelopes, locked)
        await self.slas.on_visit(conn, state, envelopes, deadlines)
        await deadlines.write(conn)

    async def _visit_deadlines(
        self, conn: asyncpg.Connection, state: v.Visit, envelopes: Sequence[Envelope], locked: object
    ) -> DeadlineCache:
        """The visit's deadlines as :meth:`lock_deadlines` read them in this transaction
        (``locked``); none for a new visit; else read now (a command run in another's
        transaction)."""
        subject = str(state.visit_id)
        if isinstance(locked, SubjectLocks) and locked.deadlines.subject_id == subject:
            return locked.deadlines
        return await self.deadlines.cached(None if envelopes[0].stream_version == 1 else conn, subject)

    # -------------------------------------------------------------------------------- calls

    async def receive_call(
        self,
        branch_id: str,
        start: Callable[[UUID], p.ReceiveCall],
        *,
        meta: Metadata,
        create: Create | None = None,
    ) -> CommandResult[p.PhoneCall]:
        """The phone rings (``start`` makes the command for the new call's id); with an
        idempotency key as :meth:`arrive`."""
        create = create or Create.none()
        call_id = create.new_id()
        made = claim_first(create, start(call_id), resource_id=str(call_id), status=201)
        return await self.calls.execute(
            p.stream_id(call_id), made, meta=meta, branch_id=branch_id, must_exist=False
        )

    async def call_command(
        self, call_id: UUID, command: CallStep, *, meta: Metadata, **options: Unpack[Options]
    ) -> CommandResult[p.PhoneCall]:
        """Run a call command (or a builder) in one transaction, as :meth:`visit`."""
        return self._observed(await self.calls.execute(p.stream_id(call_id), command, meta=meta, **options))

    def answer(self, staff_id: str, rings: int, seconds_to_answer: float | None) -> CallStep:
        async def make(conn: asyncpg.Connection, loaded: Loaded[p.PhoneCall]) -> p.AnswerCall:
            now = self.clock.now()
            locks = loaded.locked
            # the call's deadline rows were locked and read with it (lock_deadlines): no second read
            deadlines = locks.deadlines if isinstance(locks, SubjectLocks) else self.deadlines
            deadline = await deadlines.get(conn, str(loaded.state.call_id), PHONE)
            breach = None
            if deadline is not None and deadline.is_open and "breached" not in deadline.fired:
                breach = SlaBreached(**deadline.event_fields(), at=now)
            return p.AnswerCall(
                staff_id=staff_id,
                rings=rings,
                max_rings=self.catalogue.max_rings,
                at=now,
                seconds_to_answer=seconds_to_answer,
                ring_breach=breach,
            )

        return make

    async def load_call(self, call_id: UUID) -> Loaded[p.PhoneCall]:
        return await _existing(self.calls, p.stream_id(call_id), f"call {call_id}")

    async def _after_call(
        self, conn: asyncpg.Connection, state: p.PhoneCall, envelopes: Sequence[Envelope]
    ) -> None:
        await self.call_rows.write(conn, state, envelopes)
        await self.slas.on_call(conn, state, envelopes)

    # ------------------------------------------------------------------------------ erasure

    async def record_erasure(
        self, conn: asyncpg.Connection, customer_ref: str, at: datetime, meta: Metadata
    ) -> None:
        """The vault erased a customer (in ``conn``'s transaction): shred reception's own texts
        about them and tell every other context (``CustomerErased``), in that same transaction."""
        await self.texts.erase_customer(conn, customer_ref)
        stream = erasure_stream(customer_ref)
        version = int(
            await conn.fetchval(
                "SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = $1", stream
            )
        )
        event = CustomerErased(customer_ref=customer_ref, at=at)
        envelope = self.visits.envelopes(stream, version, ERASURE_BRANCH, [event], meta)
        await self.store.append(stream, version, envelope, conn)

    # ---------------------------------------------------------------------------------- SLA

    async def _on_fire(self, conn: asyncpg.Connection, deadline: Deadline, kind: Kind, at: datetime) -> None:
        """The scheduler's callback: the SLA event goes onto the visit's or call's stream, in the
        scheduler's transaction, and the lobby row follows at once."""
        event = fired_event(deadline, kind, at)
        meta = Metadata(actor=SLA_ACTOR)
        if deadline.subject_type == "visit":
            await self.visits.execute_in(conn, deadline.stream_id, v.RecordSla(event), meta=meta)
        elif deadline.subject_type == "call":
            await self.calls.execute_in(conn, deadline.stream_id, p.RecordCallSla(event), meta=meta)
        else:
            log.warning("reception: deadline of unknown subject type %s ignored", deadline.subject_type)

    async def tick(self) -> int:
        """Fire due SLA milestones now (tests call this instead of sleeping)."""
        fired = await self.scheduler.tick()
        if fired:
            self.store.notifier.poke()  # wake the relay: the events committed with the tick
        return fired

    async def run_scheduler(self, period: float = 1.0) -> None:
        await every(period, self.tick, name="reception: SLA tick", logger=log)

    # ------------------------------------------------------------------------------ metrics

    def _observed(self, result: CommandResult[S]) -> CommandResult[S]:
        """Metrics of a command's committed events (counted after its transaction)."""
        observe(result.events)
        return result

    async def refresh_gauges(self) -> None:
        """Queue length and open counters per line, the answered-within-target ratio."""
        await refresh_gauges(self.pool, self.clock.now(), self.catalogue)

    async def run_gauges(self, period: float = 5.0) -> None:
        await every(period, self.refresh_gauges, name="reception: refreshing gauges", logger=log)


async def _existing(handler: CommandHandler[C, S], stream_id: str, what: str) -> Loaded[S]:
    """The stream's state, or 404 when it was never started."""
    loaded = await handler.load(stream_id)
    if loaded.version == 0:
        raise NotFound(f"{what} does not exist")
    return loaded
