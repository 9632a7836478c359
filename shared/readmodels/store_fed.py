"""Read models written in the command's own transaction (``after_append``), rebuilt by folding the
service's own event store.

A :class:`Rebuilder` names its schema and tables; ``run`` (search_path = the schema, inside the
caller's transaction, the tables already emptied) fills them from the ``events`` table alone,
folding every stream in log order and writing each step's state exactly as the command's
``after_append`` did. Only the read-model writers are called, never the side effects that run
beside them (deadlines, the survey dispatch queue, metrics): those are state, not read models.

Callers: the restore drill (``shared.backup.drill``, on a restored copy) and ``branchcare rebuild``
(``shared.readmodels.live``, on the live database).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import asyncpg

from shared.envelope import Envelope
from shared.registry import REGISTRY


@dataclass(frozen=True)
class Rebuilder:
    schema: str
    tables: tuple[str, ...]
    run: Callable[[asyncpg.Connection], Awaitable[None]]
    #: columns a rebuild cannot reproduce (a row's wall-clock ``updated_at``), per table
    exclude: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: the read model's name in ``branchcare rebuild SERVICE READ_MODEL``
    name: str = ""


#: an ``events`` row as an envelope's fields (:func:`envelope_of`)
ENVELOPE_COLUMNS = """event_id, type, schema_version, stream_id, stream_version, branch_id, occurred_at,
       recorded_at, correlation_id, causation_id, actor, data::text AS data"""
_EVENTS = f"""
SELECT {ENVELOPE_COLUMNS}
FROM events WHERE stream_id LIKE ANY($1::text[]) ORDER BY tx_id, position"""


def envelope_of(row: asyncpg.Record) -> Envelope:
    """A stored event (selected as :data:`ENVELOPE_COLUMNS`), upcast to its current version."""
    fields: dict[str, Any] = dict(row)
    fields["data"] = json.loads(fields["data"])
    return REGISTRY.upcast(Envelope.model_validate(fields), stored=True)


Write = Callable[[asyncpg.Connection, Any, list[Envelope]], Awaitable[None]]
Evolve = Callable[[Any, Any], Any]


async def fold(conn: asyncpg.Connection, streams: dict[str, tuple[Any, Evolve, Write]]) -> None:
    """Fold every stream whose id starts with a key of ``streams`` in log order (the order the
    commands committed), writing each step's state as the command's ``after_append`` did."""
    states: dict[str, Any] = {}
    # a cursor (the caller's transaction): a large store is read in batches, not into memory
    async for row in conn.cursor(_EVENTS, [f"{prefix}%" for prefix in streams], prefetch=1000):
        env = envelope_of(row)
        initial, evolve, write = next(v for p, v in streams.items() if env.stream_id.startswith(p))
        state = evolve(states.get(env.stream_id, initial), REGISTRY.decode(env))
        states[env.stream_id] = state
        await write(conn, state, [env])


async def _rebuild_reception(conn: asyncpg.Connection) -> None:
    from services.reception import counter as counters
    from services.reception import decider as visits
    from services.reception import phone as calls
    from services.reception.projections import CallRows, CounterRows, VisitRows
    from shared.sla.policy import PolicyBook

    visit_rows, call_rows, counter_rows = VisitRows(PolicyBook.load()), CallRows(), CounterRows()
    await fold(
        conn,
        {
            "visit-": (visits.visit_decider.initial_state, visits.visit_decider.evolve, visit_rows.write),
            "call-": (calls.call_decider.initial_state, calls.call_decider.evolve, call_rows.write),
            # a counter's open/pause/close state (issue 22) lives on the same rows as busy/free
            "counter:": (
                counters.counter_decider.initial_state,
                counters.counter_decider.evolve,
                counter_rows.write,
            ),
        },
    )


async def _rebuild_complaint(conn: asyncpg.Connection) -> None:
    from services.complaint.domain import complaint_decider
    from services.complaint.projections import board_row

    decider = complaint_decider
    await fold(conn, {"complaint-": (decider.initial_state, decider.evolve, board_row)})


async def _rebuild_followup(conn: asyncpg.Connection) -> None:
    from services.followup.app import _upsert_task
    from services.followup.decider import followup_decider

    async def write(conn: asyncpg.Connection, state: Any, envs: list[Envelope]) -> None:
        if state.task_id is not None and state.kind is not None:  # as FollowUpApp._after_change
            await _upsert_task(conn, state, envs[0].branch_id, envs[-1].stream_version)

    decider = followup_decider
    await fold(conn, {"followup-": (decider.initial_state, decider.evolve, write)})


async def _rebuild_feedback(conn: asyncpg.Connection) -> None:
    from services.feedback.app import FeedbackApp
    from services.feedback.domain import survey_decider
    from shared.sla.policy import PolicyBook

    # _upsert_facts only needs the branches' calendars (deadlines.book): nothing else of the app
    app: Any = SimpleNamespace(deadlines=SimpleNamespace(book=PolicyBook.load()))

    async def write(conn: asyncpg.Connection, state: Any, envs: list[Envelope]) -> None:
        if state.survey_id is not None:  # as FeedbackApp._after_change, without the dispatch queue
            await FeedbackApp._upsert_facts(app, conn, state, envs[0].branch_id, envs[-1].stream_version)

    decider = survey_decider
    await fold(conn, {"survey-": (decider.initial_state, decider.evolve, write)})


def rebuilders() -> list[Rebuilder]:
    """Every store-fed read model (imported lazily: the services' code is optional here)."""
    return [
        Rebuilder("reception", ("visits", "calls", "counters"), _rebuild_reception, name="lobby"),
        Rebuilder("complaint", ("complaint_board",), _rebuild_complaint, name="board"),
        Rebuilder(
            "followup", ("tasks",), _rebuild_followup, exclude={"tasks": ("updated_at",)}, name="tasks"
        ),
        Rebuilder("feedback", ("survey_facts",), _rebuild_feedback, name="survey_facts"),
    ]
