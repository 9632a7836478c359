"""The restore drill's rebuild of the Kafka-fed read models: from the restored event stores.

The stores are the truth and the topics a copy of them, so a backup proves a Kafka-fed read model
recoverable when re-applying its sources' *stored* events gives it back. For each
:class:`~shared.readmodels.kafka_fed.Replay` (the same writers ``branchcare rebuild`` replays from
the topics, never the reactions beside them: no case opened, no survey requested, nothing sent):

1. the events its writers handle are read from the restored stores of its source contexts (they may
   sit in another restored database: production keeps one per service), merged in the order a
   topic replay applies them (:func:`~shared.readmodels.kafka_fed.recorded_order`);
2. only those the restored read model's consumer had applied are kept: a stream's version up to
   the read model's schema's ``projection_positions`` for it (dumps of separate databases are taken
   moments apart, and a consumer may lag its sources: what it had not applied yet is no difference);
3. the scratch copy's tables are emptied and the events applied, in one transaction.

The caller compares the result with the restored tables (row counts and checksums per table).
"""

from __future__ import annotations

from collections.abc import Mapping

import asyncpg

from shared.backup.tables import quote_ident
from shared.envelope import Envelope
from shared.readmodels.kafka_fed import Replay, apply_envelopes, recorded_order
from shared.readmodels.store_fed import ENVELOPE_COLUMNS, envelope_of

_STORED = f"SELECT {ENVELOPE_COLUMNS} FROM events WHERE type = ANY($1::text[]) ORDER BY tx_id, position"
_APPLIED = "SELECT stream_id, max(version) AS version FROM projection_positions GROUP BY stream_id"


async def _connect(url: str, schema: str) -> asyncpg.Connection:
    return await asyncpg.connect(url, timeout=10, server_settings={"search_path": schema})


async def stored_events(url: str, schema: str, types: list[str]) -> list[Envelope]:
    """The events of these types in ``schema``'s store of the database at ``url``."""
    conn = await _connect(url, schema)
    try:
        async with conn.transaction():
            return [envelope_of(row) async for row in conn.cursor(_STORED, types, prefetch=1000)]
    finally:
        await conn.close()


async def rebuild_from_stores(replay: Replay, target_url: str, stores: Mapping[str, str]) -> int:
    """Empty ``replay``'s tables in the database at ``target_url`` and refill them from the stores
    (``stores``: context → the database holding its restored store); how many events were applied."""
    writers = replay.writers()
    envelopes: list[Envelope] = []
    own: set[str] = set()  # the read model's own store's events (hqfeed's output): no consumer to lag
    for source in dict.fromkeys(replay.sources):
        found = await stored_events(stores[source], source, sorted(writers))
        envelopes += found
        if source == replay.schema:
            own |= {e.stream_id for e in found}
    conn = await _connect(target_url, replay.schema)
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL TimeZone = 'UTC'")
            applied = {r["stream_id"]: r["version"] for r in await conn.fetch(_APPLIED)}
            consumed = [
                e for e in envelopes if e.stream_id in own or e.stream_version <= applied.get(e.stream_id, 0)
            ]
            consumed.sort(key=recorded_order)
            await conn.execute("TRUNCATE " + ", ".join(quote_ident(t) for t in replay.tables))
            return await apply_envelopes(conn, writers, consumed)
    finally:
        await conn.close()
