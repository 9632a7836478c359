"""Read models the restore drill rebuilds from a restored event store, to compare with the
restored read models.

A :class:`Rebuilder` names its schema and tables; the drill empties those tables in a second copy
of the restored database and calls ``run`` (search_path = the schema, in one transaction) to fill
them from that copy's ``events`` table alone. Equal row counts and checksums prove the stored
events are enough to recover the read model.

Covered today: reception's visits, calls and counters (written in the command's transaction from
the folded stream). Not covered here: the Kafka-fed read models (complaint board, follow-up tasks,
feedback facts, HQ) — they are rebuilt from the topics by their own commands (``POST
/hq/admin/rebuild``, ``branchcare rebuild`` where present); the drill lists them as
"not rebuilt" and still checks they restored exactly as backed up.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from shared.envelope import Envelope
from shared.registry import REGISTRY


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


async def _rebuild_reception(conn: asyncpg.Connection) -> None:
    """Fold every visit and call stream in log order, writing each step as the command did."""
    from services.reception import domain as visits
    from services.reception import phone as calls
    from services.reception.projections import CallRows, VisitRows
    from shared.sla.policy import PolicyBook

    visit_rows, call_rows = VisitRows(PolicyBook.load()), CallRows()
    states: dict[str, Any] = {}
    for row in await conn.fetch(_EVENTS, ["visit-%", "call-%"]):
        env = _envelope(row)
        event = REGISTRY.decode(env)
        if env.stream_id.startswith("visit-"):
            visit = visits.visit_decider.evolve(
                states.get(env.stream_id, visits.visit_decider.initial_state), event
            )
            states[env.stream_id] = visit
            await visit_rows.write(conn, visit, [env])
        else:
            call = calls.call_decider.evolve(
                states.get(env.stream_id, calls.call_decider.initial_state), event
            )
            states[env.stream_id] = call
            await call_rows.write(conn, call, [env])


def rebuilders() -> list[Rebuilder]:
    """Every rebuilder the drill knows (imported lazily: the services' code is optional here)."""
    return [Rebuilder("reception", ("visits", "calls", "counters"), _rebuild_reception)]
