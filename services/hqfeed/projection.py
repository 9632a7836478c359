"""The aggregator: a projection of the four domain topics whose output is HQ's contract.

One batch, one transaction (the projection runner's, with its per-stream positions): load the state
the batch needs, fold it (:mod:`services.hqfeed.fold`), keep the new state, and append the
contract events of every branch touched to this service's event store — the outbox the relay
publishes to ``hqfeed.events.v1``. So a redelivered domain event changes nothing and publishes
nothing, and a contract event exists exactly when the batch it describes was applied.

One stream per branch (``hqfeed:<branch>``): its versions are consecutive, so HQ's projection
applies each delta exactly once, in order.

With ``hold_kpis`` (the live consumer: batches shorter than the window) a batch publishes its case
records at once and keeps its KPI deltas in ``pending_deltas`` (same transaction); :meth:`flush`
publishes each branch's merge once the window closes (:mod:`services.hqfeed.deltas`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta, tzinfo

import asyncpg

from services.hqfeed.deltas import merge
from services.hqfeed.facts import BatchChanges, FoldSettings
from services.hqfeed.fold import complaint_ids, fold_batch, subjects_needing_breaches
from services.hqfeed.publish import contract_events
from services.hqfeed.state import load_facts, load_open_breaches, save_state
from shared import tracing
from shared.clock import Clock
from shared.contracts import complaint as _complaint  # noqa: F401  (registers the topics' events)
from shared.contracts import customers as _customers  # noqa: F401
from shared.contracts import feedback as _feedback  # noqa: F401
from shared.contracts import followup as _followup  # noqa: F401
from shared.contracts import hqfeed as _hqfeed  # noqa: F401
from shared.contracts import reception as _reception  # noqa: F401
from shared.contracts.hqfeed import CRISIS_SLOT_MINUTES, BranchKpisDelta
from shared.envelope import Envelope, Metadata
from shared.eventstore import ConcurrencyError, EventStore, event_row
from shared.horizon import WRITER_LOCK_CLASS
from shared.reactions import _APPEND_MANY  # EventStore.append for many streams in one statement
from shared.registry import EventData, envelope_of
from shared.topology import events_topic

PROJECTION = "hq_contract"
SOURCES: tuple[str, ...] = ("reception", "complaint", "followup", "feedback")
ACTOR = "system:hqfeed"


def feed_stream(branch_id: str) -> str:
    return f"hqfeed:{branch_id}"


class HqFeed:
    """Folds the branches' domain events into HQ's contract events (exactly once)."""

    name = PROJECTION
    topics: Sequence[str] = tuple(events_topic(c) for c in SOURCES)

    def __init__(self, *, store: EventStore, tz_of: Callable[[str], tzinfo], clock: Clock) -> None:
        self.store = store
        self.tz_of = tz_of
        self.clock = clock
        self.settings = FoldSettings(slot=timedelta(minutes=CRISIS_SLOT_MINUTES))
        #: contract events appended since the last look (tests, metrics)
        self.appended = 0
        #: keep each batch's KPI deltas in ``pending_deltas`` until :meth:`flush` (the live
        #: consumer); False: a batch publishes them with its case records (one batch per window)
        self.hold_kpis = False
        #: a batch held KPI deltas back since the last flush
        self.pending = False

    async def fold_state(
        self, conn: asyncpg.Connection, events: Sequence[Envelope]
    ) -> tuple[BatchChanges, dict[tuple[str, str], str]]:
        """Fold ``events`` into the aggregator's state (no output: the restore drill rebuilds the
        state alone); the changes and the open breaches they were folded against."""
        facts = await load_facts(conn, complaint_ids(events))
        breaches = await load_open_breaches(conn, subjects_needing_breaches(events))
        changes = fold_batch(
            events, facts=facts, open_breaches=breaches.keys(), tz_of=self.tz_of, settings=self.settings
        )
        await save_state(conn, changes)
        return changes, breaches

    async def apply(self, conn: asyncpg.Connection, events: Sequence[Envelope]) -> None:
        changes, breaches = await self.fold_state(conn, events)
        out = contract_events(changes, breaches)
        occurred = _latest_occurred(events, out)
        if self.hold_kpis:
            held = {b: [e for e in records if isinstance(e, BranchKpisDelta)] for b, records in out.items()}
            await self._hold(conn, [d for ds in held.values() for d in ds], occurred)
            out = {b: [e for e in r if not isinstance(e, BranchKpisDelta)] for b, r in out.items()}
            out = {b: r for b, r in out.items() if r}
        if out:
            await self._append(conn, out, events, occurred)

    async def _hold(
        self, conn: asyncpg.Connection, deltas: list[BranchKpisDelta], occurred: dict[str, datetime]
    ) -> None:
        """Keep the batch's KPI deltas for the window's :meth:`flush` (in the batch's transaction)."""
        if not deltas:
            return
        await conn.execute(
            """INSERT INTO pending_deltas (branch_id, occurred_at, delta)
               SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::jsonb[])""",
            [d.branch_id for d in deltas],
            [occurred.get(d.branch_id, self.clock.now()) for d in deltas],
            [d.model_dump_json(exclude_defaults=True) for d in deltas],
        )
        self.pending = True

    async def flush(self, conn: asyncpg.Connection) -> int:
        """Publish every branch's held KPI deltas as one delta (in the caller's transaction);
        returns how many branches got one."""
        rows = await conn.fetch(
            "DELETE FROM pending_deltas RETURNING seq, branch_id, occurred_at, delta::text"
        )
        self.pending = False
        if not rows:
            return 0
        by_branch: dict[str, list[BranchKpisDelta]] = {}
        occurred: dict[str, datetime] = {}
        for r in sorted(rows, key=lambda r: r["seq"]):
            branch = r["branch_id"]
            by_branch.setdefault(branch, []).append(BranchKpisDelta.model_validate_json(r["delta"]))
            occurred[branch] = max(occurred.get(branch, r["occurred_at"]), r["occurred_at"])
        out: dict[str, list[EventData]] = {b: [merge(ds)] for b, ds in by_branch.items()}
        await self._append(conn, out, (), occurred)
        return len(out)

    async def _append(
        self,
        conn: asyncpg.Connection,
        out: dict[str, list[EventData]],
        events: Sequence[Envelope],
        occurred: dict[str, datetime],
    ) -> None:
        streams = sorted(out)
        ids = [feed_stream(b) for b in streams]
        rows = await conn.fetch("SELECT stream_id, version FROM feed_streams WHERE stream_id = ANY($1)", ids)
        heads = {r["stream_id"]: int(r["version"]) for r in rows}
        now = self.clock.now()
        #: the branch's last domain event of the batch: its records continue that event's trace
        last: dict[str, Envelope] = {}
        for env in events:
            if env.branch_id in out:
                last[env.branch_id] = env
        meta = Metadata(actor=ACTOR)  # one correlation id for the batch's records
        columns: list[list[object]] = [[] for _ in range(13)]
        expected: list[int] = []
        for branch, stream in zip(streams, ids, strict=True):
            version = heads.get(stream, 0)
            at = occurred.get(branch, now)
            # defaults left out: a quiet counter or an empty list costs no bytes
            envs = [
                envelope_of(
                    data,
                    stream_id=stream,
                    version=version + i,
                    branch_id=branch,
                    meta=meta,
                    at=at,
                    recorded_at=now,
                    exclude_defaults=True,
                )
                for i, data in enumerate(out[branch], start=1)
            ]
            with tracing.handling(last[branch]) if branch in last else contextlib.nullcontext():
                traceparent = tracing.current_traceparent()
            for env in envs:
                row = (stream, *event_row(env, self.store.max_event_bytes), traceparent)
                for column, value in zip(columns, row, strict=True):
                    column.append(value)
            expected.append(version)
            heads[stream] = version + len(envs)
        # every branch's records in ONE append (each stream checked at its head), not one per
        # branch; a conflict (another aggregator appended first) is EventStore.append's
        try:
            answer = await conn.fetch(
                _APPEND_MANY, ids, expected, *columns, WRITER_LOCK_CLASS, self.store.lock_key
            )
        except asyncpg.UniqueViolationError as exc:
            if exc.table_name != "events":
                raise
            raise ConcurrencyError(ids[0], expected[0]) from None
        for r in answer:
            if r["inserted"] != heads[r["stream_id"]] - r["expected"]:
                raise ConcurrencyError(r["stream_id"], r["expected"], r["current"])
        await conn.execute(
            """INSERT INTO feed_streams (stream_id, version) SELECT * FROM unnest($1::text[], $2::bigint[])
               ON CONFLICT (stream_id) DO UPDATE SET version = EXCLUDED.version""",
            ids,
            [heads[s] for s in ids],
        )
        self.appended += sum(len(v) for v in out.values())


def _latest_occurred(events: Sequence[Envelope], branches: Iterable[str]) -> dict[str, datetime]:
    """Branch → the latest ``occurred_at`` of its events in the batch (its records' occurred_at)."""
    wanted = set(branches)
    occurred: dict[str, datetime] = {}
    for env in events:
        if env.branch_id in wanted and (
            env.branch_id not in occurred or env.occurred_at > occurred[env.branch_id]
        ):
            occurred[env.branch_id] = env.occurred_at
    return occurred
