"""Deadlines in the service's ``deadlines`` table, changed inside the caller's transaction.

A deadline's due time is never stored as truth on its own: it is recomputed from its start, its
policy (duration, counting), the branch calendar and its pauses, so a pause moves it by exactly
the paused (open) time and a replay of history gives the same answer as live.

States: ``running`` → ``met`` | ``cancelled``; ``running`` ⇄ ``paused``; a running deadline whose
time is up becomes ``breached`` (still open: it can be met late, or paused and resumed).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from shared import db_batch
from shared.clock import Clock
from shared.metrics import SLA_BREACHES, SLA_MET
from shared.sla.calendar import ALWAYS_OPEN, Interval
from shared.sla.deadline_sql import END, UPSERT_MANY, row_values, upsert_arguments
from shared.sla.policy import PolicyBook, SlaPolicy
from shared.sla.subject import Subject

OPEN_STATES = ("running", "paused", "breached")


@dataclass(frozen=True)
class Deadline:
    deadline_id: UUID
    subject_type: str
    subject_id: str
    stream_id: str
    branch_id: str
    sla: str
    policy: str
    rule: str
    counting: str
    duration: timedelta
    milestones: tuple[float, ...]
    started_at: datetime
    pauses: tuple[tuple[datetime, datetime | None], ...]
    state: str
    due_at: datetime | None
    fired: tuple[str, ...]
    next_fire_at: datetime | None
    next_fire_kind: str | None
    ended_at: datetime | None

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def at_risk(self) -> bool:
        return self.is_open and self.state != "breached" and any(f.startswith("at_risk") for f in self.fired)

    def status(self) -> str:
        """``on_track``, ``at_risk``, ``breached``, ``paused``, ``met`` or ``cancelled``."""
        if self.state == "running":
            return "at_risk" if self.at_risk else "on_track"
        return self.state

    def remaining(self, now: datetime) -> timedelta | None:
        return None if self.due_at is None else self.due_at - now

    def event_fields(self) -> dict[str, Any]:
        """The fields SlaAtRisk / SlaBreached carry about this deadline."""
        return {
            "deadline_id": self.deadline_id,
            "sla": self.sla,
            "policy": self.policy,
            "subject_type": self.subject_type,
            "subject_id": self.subject_id,
            "started_at": self.started_at,
            "due_at": self.due_at,
            "rule": self.rule[:300],
        }

    def to_json(self, now: datetime) -> dict[str, Any]:
        remaining = self.remaining(now)
        return {
            "deadline_id": str(self.deadline_id),
            "sla": self.sla,
            "policy": self.policy,
            "rule": self.rule,
            "status": self.status(),
            "started_at": self.started_at.isoformat(),
            "due_at": self.due_at.isoformat() if self.due_at else None,
            "remaining_seconds": None if remaining is None else round(remaining.total_seconds()),
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
        }


def closed_intervals(pauses: Sequence[tuple[datetime, datetime | None]]) -> list[Interval]:
    return [(lo, hi) for lo, hi in pauses if hi is not None]


def schedule(deadline: Deadline, book: PolicyBook) -> Deadline:
    """Recompute ``due_at`` and the next milestone from the deadline's own history. Pure.

    A paused deadline keeps no milestone, but its due time follows a changed duration (an
    extension granted while the case waits), the open pause not counted yet."""
    due, next_at, kind = timing(deadline, book)
    return replace(deadline, due_at=due, next_fire_at=next_at, next_fire_kind=kind)


def timing(deadline: Deadline, book: PolicyBook) -> tuple[datetime | None, datetime | None, str | None]:
    """``(due_at, next_fire_at, next_fire_kind)`` as :func:`schedule` sets them (an ended
    deadline keeps its ``due_at``)."""
    if deadline.state not in ("running", "breached", "paused"):
        return deadline.due_at, None, None
    calendar = book.calendar(deadline.branch_id) if deadline.counting == "business" else ALWAYS_OPEN
    closed = closed_intervals(deadline.pauses)
    due = calendar.add_open_time(deadline.started_at, deadline.duration, closed)
    if deadline.state == "paused":
        return due, None, None
    if "breached" in deadline.fired:
        return due, None, None
    for fraction in deadline.milestones:
        name = f"at_risk:{fraction:g}"
        if name not in deadline.fired:
            warn_at = calendar.add_open_time(deadline.started_at, deadline.duration * fraction, closed)
            return due, warn_at, name
    return due, due, "breached"


class Deadlines:
    """Start, meet, pause, resume and cancel deadlines; every call joins the caller's transaction."""

    def __init__(self, service: str, clock: Clock, book: PolicyBook) -> None:
        self.service = service
        self.clock = clock
        self.book = book

    async def start(
        self,
        conn: asyncpg.Connection,
        *,
        subject: Subject,
        sla: str,
        started_at: datetime,
        duration: timedelta | None = None,
        policy: SlaPolicy | None = None,
        restart: bool = False,
    ) -> Deadline:
        """Start ``subject``'s deadline for ``sla``; an open one is kept unless ``restart`` (which
        reads nothing: the row is replaced whatever it held)."""
        branch_id = subject.branch_id
        if not restart:
            existing = await self.get(conn, subject.id, sla)
            if existing is not None and existing.is_open:
                return existing
        chosen = policy or self.book.policy(sla, branch_id)
        duration = duration or chosen.duration
        milestones = chosen.milestones()
        # what schedule() computes for a fresh running deadline, without building it twice
        calendar = self.book.calendar(branch_id) if chosen.counting == "business" else ALWAYS_OPEN
        due = calendar.add_open_time(started_at, duration)
        if milestones:
            next_at = calendar.add_open_time(started_at, duration * milestones[0])
            kind = f"at_risk:{milestones[0]:g}"
        else:
            next_at, kind = due, "breached"
        deadline = Deadline(
            deadline_id=uuid4(),
            subject_type=subject.type,
            subject_id=subject.id,
            stream_id=subject.stream_id,
            branch_id=branch_id,
            sla=sla,
            policy=chosen.policy,
            rule=chosen.rule,
            counting=chosen.counting,
            duration=duration,
            milestones=milestones,
            started_at=started_at,
            pauses=(),
            state="running",
            due_at=due,
            fired=(),
            next_fire_at=next_at,
            next_fire_kind=kind,
            ended_at=None,
        )
        await self._save(conn, deadline, insert=True)
        return deadline

    async def get(self, conn: asyncpg.Connection, subject_id: str, sla: str) -> Deadline | None:
        row = await conn.fetchrow(
            "SELECT * FROM deadlines WHERE subject_id = $1 AND sla = $2", subject_id, sla
        )
        return None if row is None else from_row(row)

    async def list_for(self, conn: asyncpg.Connection, subject_id: str) -> list[Deadline]:
        rows = await conn.fetch(
            "SELECT * FROM deadlines WHERE subject_id = $1 ORDER BY due_at NULLS LAST, sla", subject_id
        )
        return [from_row(r) for r in rows]

    def touch_metrics(self) -> None:
        """Create this service's SLA series at 0, so the first breach is visible to ``rate()``."""
        for sla in self.book.policies:
            if sla.startswith(f"{self.service}."):
                SLA_BREACHES.labels(self.service, sla)
                SLA_MET.labels(self.service, sla)

    async def meet(
        self, conn: asyncpg.Connection, subject_id: str, sla: str, at: datetime
    ) -> Deadline | None:
        return await self._end(conn, subject_id, sla, at, "met")

    async def cancel(
        self, conn: asyncpg.Connection, subject_id: str, sla: str, at: datetime
    ) -> Deadline | None:
        return await self._end(conn, subject_id, sla, at, "cancelled")

    async def cancel_all(self, conn: asyncpg.Connection, subject_id: str, at: datetime) -> list[Deadline]:
        ended = []
        for deadline in await self.list_for(conn, subject_id):
            if deadline.is_open:
                result = await self._end(conn, subject_id, deadline.sla, at, "cancelled")
                if result is not None:
                    ended.append(result)
        return ended

    async def change_duration(
        self,
        conn: asyncpg.Connection,
        subject_id: str,
        sla: str,
        duration: timedelta,
        rule: str | None = None,
    ) -> Deadline | None:
        """Extend (or shorten) an open deadline, e.g. a regulatory extension.

        Milestones already passed under the new duration stay fired; the others re-arm, so the
        warnings before the new limit fire again at their new times.
        """
        deadline = await self.get(conn, subject_id, sla)
        if deadline is None or not deadline.is_open:
            return None
        now = self.clock.now()
        changed = replace(deadline, duration=duration, rule=rule or deadline.rule)
        calendar = self.book.calendar(changed.branch_id) if changed.counting == "business" else ALWAYS_OPEN
        closed = closed_intervals(changed.pauses)
        kept = tuple(
            name
            for name, fraction in ((f"at_risk:{m:g}", m) for m in changed.milestones)
            if name in deadline.fired
            and calendar.add_open_time(changed.started_at, duration * fraction, closed) <= now
        )
        due = calendar.add_open_time(changed.started_at, duration, closed)
        breached = "breached" in deadline.fired and due <= now
        state = deadline.state if deadline.state == "paused" else ("breached" if breached else "running")
        updated = schedule(
            replace(changed, state=state, fired=(*kept, "breached") if breached else kept), self.book
        )
        await self._save(conn, updated)
        return updated

    async def pause(
        self, conn: asyncpg.Connection, subject_id: str, at: datetime, *, keep_running: Collection[str] = ()
    ) -> list[Deadline]:
        """Stop every running deadline of the subject (waiting on the customer, appraisal).

        ``keep_running`` names SLAs that must not stop, e.g. a regulatory limit without a
        stop-the-clock rule (FCA DISP, CFPB) while the case waits on the customer."""
        changed = []
        for deadline in await self.list_for(conn, subject_id):
            if deadline.state in ("running", "breached") and deadline.sla not in keep_running:
                paused = replace(
                    deadline,
                    state="paused",
                    pauses=(*deadline.pauses, (at, None)),
                    next_fire_at=None,
                    next_fire_kind=None,
                )
                await self._save(conn, paused)
                changed.append(paused)
        return changed

    async def resume(self, conn: asyncpg.Connection, subject_id: str, at: datetime) -> list[Deadline]:
        """Restart paused deadlines; each due time moves by exactly the paused open time."""
        changed = []
        for deadline in await self.list_for(conn, subject_id):
            if deadline.state != "paused":
                continue
            pauses = list(deadline.pauses)
            lo, _ = pauses[-1]
            pauses[-1] = (lo, max(at, lo))
            resumed = schedule(
                replace(
                    deadline,
                    state="breached" if "breached" in deadline.fired else "running",
                    pauses=tuple(pauses),
                ),
                self.book,
            )
            await self._save(conn, resumed)
            changed.append(resumed)
        return changed

    async def _end(
        self, conn: asyncpg.Connection, subject_id: str, sla: str, at: datetime, state: str
    ) -> Deadline | None:
        """The open deadline ended in one statement (:data:`~shared.sla.deadline_sql.END`), not
        read first; None when there is no open one."""
        row = await conn.fetchrow(f"{END} RETURNING *", subject_id, sla, state, at, at.isoformat())
        if row is None:
            return None
        ended = from_row(row)
        self._count_met(ended, state)
        return ended

    async def end_later(
        self, conn: asyncpg.Connection, subject_id: str, sla: str, at: datetime, state: str, *, breached: bool
    ) -> None:
        """End the open deadline (``met`` or ``cancelled``) without reading it: one write queued
        with the command's others (``shared.db_batch``), for a command that needs nothing of the
        deadline back. ``breached``: whether it fell due (as the subject's own stream says), for
        the count of deadlines met on time."""
        await db_batch.write(conn, END, subject_id, sla, state, at, at.isoformat())
        if state == "met" and not breached:
            SLA_MET.labels(self.service, sla).inc()

    def _count_met(self, ended: Deadline, state: str) -> None:
        if state == "met" and "breached" not in ended.fired:
            SLA_MET.labels(self.service, ended.sla).inc()

    async def cached(self, conn: asyncpg.Connection | None, subject_id: str) -> DeadlineCache:
        """The subject's deadlines for one command: read once (not at all without ``conn``: a new
        subject has none), changed in memory, written in one statement (:meth:`DeadlineCache.write`)."""
        rows = await self.list_for(conn, subject_id) if conn is not None else []
        return DeadlineCache(self, subject_id, rows)

    async def _save(self, conn: asyncpg.Connection, d: Deadline, insert: bool = False) -> None:
        if insert:
            await conn.execute(UPSERT_MANY, *upsert_arguments([d]))
            return
        v = row_values(d)
        await conn.execute(
            """UPDATE deadlines SET rule = $2, duration_seconds = $3, milestones = $4, pauses = $5::jsonb,
                   state = $6, due_at = $7, fired = $8, next_fire_at = $9, next_fire_kind = $10,
                   ended_at = $11, updated_at = now()
               WHERE deadline_id = $1""",
            *(v[0], v[7], v[9], v[10], v[12], v[13], v[14], v[15], v[16], v[17], v[18]),
        )


class DeadlineCache(Deadlines):
    """One subject's deadlines inside one command: every :class:`Deadlines` method works on a copy
    read once (:meth:`Deadlines.cached`), and :meth:`write` stores what changed in one statement
    (queued with the command's other writes: ``shared.db_batch``). Instead of a read and a write
    per SLA: a create starting four clocks reads nothing and writes once."""

    def __init__(self, parent: Deadlines, subject_id: str, rows: Sequence[Deadline]) -> None:
        super().__init__(parent.service, parent.clock, parent.book)
        self.subject_id = subject_id
        self.rows = {d.sla: d for d in rows}
        self.changed: dict[str, Deadline] = {}

    async def get(self, conn: asyncpg.Connection, subject_id: str, sla: str) -> Deadline | None:
        self._same(subject_id)
        return self.rows.get(sla)

    async def list_for(self, conn: asyncpg.Connection, subject_id: str) -> list[Deadline]:
        self._same(subject_id)
        return self.all()

    def all(self) -> list[Deadline]:
        """The subject's deadlines as they are now, ordered like :meth:`Deadlines.list_for`."""
        return by_due_time(self.rows.values())

    async def _end(
        self, conn: asyncpg.Connection, subject_id: str, sla: str, at: datetime, state: str
    ) -> Deadline | None:
        """Ended in memory, written with the others (:meth:`write`)."""
        deadline = await self.get(conn, subject_id, sla)
        if deadline is None or not deadline.is_open:
            return None
        pauses = deadline.pauses
        if deadline.state == "paused":
            pauses = (*pauses[:-1], (pauses[-1][0], at))
        ended = replace(
            deadline, state=state, ended_at=at, pauses=pauses, next_fire_at=None, next_fire_kind=None
        )
        await self._save(conn, ended)
        self._count_met(ended, state)
        return ended

    async def _save(self, conn: asyncpg.Connection, d: Deadline, insert: bool = False) -> None:
        self._same(d.subject_id)
        self.rows[d.sla] = self.changed[d.sla] = d

    async def write(self, conn: asyncpg.Connection) -> None:
        if not self.changed:
            return
        changed = list(self.changed.values())
        self.changed.clear()
        await db_batch.write(conn, UPSERT_MANY, *upsert_arguments(changed))

    def _same(self, subject_id: str) -> None:
        if subject_id != self.subject_id:
            raise ValueError(f"deadlines of {self.subject_id} cached, not of {subject_id}")


_FAR = datetime.max.replace(tzinfo=UTC)


def by_due_time(deadlines: Iterable[Deadline]) -> list[Deadline]:
    """Ordered as :meth:`Deadlines.list_for` reads them: by due time (none last), then SLA."""
    return sorted(deadlines, key=lambda d: (d.due_at is None, d.due_at or _FAR, d.sla))


def from_row(row: asyncpg.Record) -> Deadline:
    raw = row["pauses"]
    pauses = (
        ()
        if raw == "[]"  # most deadlines never paused: no JSON decoder run for nothing
        else tuple(
            (datetime.fromisoformat(lo), datetime.fromisoformat(hi) if hi else None)
            for lo, hi in json.loads(raw)
        )
    )
    return Deadline(
        deadline_id=row["deadline_id"],
        subject_type=row["subject_type"],
        subject_id=row["subject_id"],
        stream_id=row["stream_id"],
        branch_id=row["branch_id"],
        sla=row["sla"],
        policy=row["policy"],
        rule=row["rule"],
        counting=row["counting"],
        duration=timedelta(seconds=row["duration_seconds"]),
        milestones=tuple(row["milestones"]),
        started_at=row["started_at"],
        pauses=pauses,
        state=row["state"],
        due_at=row["due_at"],
        fired=tuple(row["fired"]),
        next_fire_at=row["next_fire_at"],
        next_fire_kind=row["next_fire_kind"],
        ended_at=row["ended_at"],
    )
