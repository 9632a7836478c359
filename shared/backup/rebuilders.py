"""Read models the restore drill rebuilds from a restored event store, to compare with the
restored read models.

A :class:`Rebuilder` names its schema and tables; the drill empties those tables in a second copy
of the restored database and calls ``run`` (search_path = the schema, in one transaction) to fill
them from that copy's ``events`` table alone. Equal row counts and checksums prove the stored
events are enough to recover the read model.

Covered today: the read models written in the command's own transaction from the folded stream —
reception's visits, calls and counters, complaint's board. Not covered here: the Kafka-fed read
models (complaint's departures and customer aliases, follow-up tasks, feedback facts, HQ): they
are rebuilt from the topics by their own commands (``POST /hq/admin/rebuild``, ``branchcare
rebuild`` where present); the drill lists them as "not rebuilt" and still checks they restored
exactly as backed up. Tables that are state rather than read models (``SOURCE_TABLES``) are only
checked against the backup.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from shared.envelope import Envelope
from shared.registry import REGISTRY

#: state no event store can give back (the stores themselves, positions, clocks, the vault, audit,
#: texts, ticket numbers, operators' dead-letter redrives): checked against the backup, never "rebuilt"
SOURCE_TABLES = frozenset(
    {
        "events", "relay_checkpoint", "projection_positions", "deadlines", "audit_log", "idempotency_keys",
        "private_texts", "text_keys", "schema_migrations", "ticket_counters", "vault_customers",
        "vault_customer_branches", "vault_data_keys", "vault_pii", "dlq_redrives",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Rebuilder:
    schema: str
    tables: tuple[str, ...]
    run: Callable[[asyncpg.Connection], Awaitable[None]]
    #: columns a rebuild cannot reproduce (none today), per table
    exclude: dict[str, tuple[str, ...]] = field(default_factory=dict)


_EVENTS = """
SELECT event_id, type, schema_version, stream_id, stream_version, branch_id, occurred_at,
       recorded_at, correlation_id, causation_id, actor, data::text AS data
FROM events WHERE stream_id LIKE ANY($1::text[]) ORDER BY tx_id, position"""


def _envelope(row: asyncpg.Record) -> Envelope:
    fields: dict[str, Any] = dict(row)
    fields["data"] = json.loads(fields["data"])
    return REGISTRY.upcast(Envelope.model_validate(fields), stored=True)


Write = Callable[[asyncpg.Connection, Any, list[Envelope]], Awaitable[None]]
Evolve = Callable[[Any, Any], Any]


async def _fold(conn: asyncpg.Connection, streams: dict[str, tuple[Any, Evolve, Write]]) -> None:
    """Fold every stream whose id starts with a key of ``streams`` in log order (the order the
    commands committed), writing each step's state as the command's ``after_append`` did."""
    states: dict[str, Any] = {}
    for row in await conn.fetch(_EVENTS, [f"{prefix}%" for prefix in streams]):
        env = _envelope(row)
        initial, evolve, write = next(v for p, v in streams.items() if env.stream_id.startswith(p))
        state = evolve(states.get(env.stream_id, initial), REGISTRY.decode(env))
        states[env.stream_id] = state
        await write(conn, state, [env])


async def _rebuild_reception(conn: asyncpg.Connection) -> None:
    from services.reception import counter as counters
    from services.reception import domain as visits
    from services.reception import phone as calls
    from services.reception.projections import CallRows, CounterRows, VisitRows
    from shared.sla.policy import PolicyBook

    visit_rows, call_rows = VisitRows(PolicyBook.load()), CallRows()
    await _fold(
        conn,
        {
            "visit-": (visits.visit_decider.initial_state, visits.visit_decider.evolve, visit_rows.write),
            "call-": (calls.call_decider.initial_state, calls.call_decider.evolve, call_rows.write),
            # a counter's open/pause/close state (issue 22) lives on the same rows as busy/free
            "counter:": (
                counters.counter_decider.initial_state,
                counters.counter_decider.evolve,
                CounterRows().write,
            ),
        },
    )


async def _rebuild_complaint(conn: asyncpg.Connection) -> None:
    from services.complaint.domain import complaint_decider
    from services.complaint.projections import write_board

    decider = complaint_decider
    await _fold(conn, {"complaint-": (decider.initial_state, decider.evolve, write_board)})


def rebuilders() -> list[Rebuilder]:
    """Every rebuilder the drill knows (imported lazily: the services' code is optional here)."""
    return [
        Rebuilder("reception", ("visits", "calls", "counters"), _rebuild_reception),
        Rebuilder("complaint", ("complaint_board",), _rebuild_complaint),
    ]
