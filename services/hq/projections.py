"""HQ read models fed by every branch's events."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from shared.contracts.complaint import ComplaintReceived
from shared.envelope import Envelope
from shared.topology import events_topic


class BranchComplaintCounts:
    """Complaints received per branch. Batch-applied: one upsert per batch, not per event."""

    name = "branch_complaints"
    topics: Sequence[str] = (events_topic("complaint"),)

    async def apply(self, conn: asyncpg.Connection, events: Sequence[Envelope]) -> None:
        counts: Counter[str] = Counter()
        latest: dict[str, datetime] = {}
        for env in events:
            if env.type == ComplaintReceived.event_type:
                counts[env.branch_id] += 1
                latest[env.branch_id] = max(env.recorded_at, latest.get(env.branch_id, env.recorded_at))
        if not counts:
            return
        branches = sorted(counts)
        await conn.execute(
            """INSERT INTO branch_complaints (branch_id, complaints_received, last_event_at)
               SELECT * FROM unnest($1::text[], $2::bigint[], $3::timestamptz[])
               ON CONFLICT (branch_id) DO UPDATE
               SET complaints_received = branch_complaints.complaints_received
                                         + EXCLUDED.complaints_received,
                   last_event_at = greatest(branch_complaints.last_event_at, EXCLUDED.last_event_at)""",
            branches,
            [counts[b] for b in branches],
            [latest[b] for b in branches],
        )
