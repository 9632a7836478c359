"""A customer the vault merged is one complainant under both refs in complaint's repeat rule, from
the merge on; a reversal separates them again. Real PostgreSQL with complaint's migrations."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import asyncpg

from services.complaint.projections import open_case_for_matter
from services.complaint.service import SERVICE
from shared import customer_aliases
from shared.contracts.customers import CustomerMergeReversed, CustomersMerged, MergeBasis
from shared.contracts.refs import synthetic_ref
from shared.migrations import apply_migrations

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
SURVIVOR, MERGED, STRANGER = synthetic_ref("by-id-card"), synthetic_ref("by-phone"), synthetic_ref("other")


async def open_case(conn: asyncpg.Connection, ref: str) -> object:
    complaint_id = uuid4()
    await conn.execute(
        """INSERT INTO complaint_board (complaint_id, branch_id, status, is_open, level, channel, cycle,
               received_at, cycle_started_at, updated_at, version, customer_ref, matter_keys,
               regulatory_profile)
           VALUES ($1, 'b001', 'received', true, 'lobby_manager', 'in_branch', 1, $2, $2, $2, 1, $3,
                   ARRAY['wait'], 'cn-2020')""",
        complaint_id,
        T0,
        ref,
    )
    return complaint_id


async def test_the_repeat_rule_joins_merged_refs_and_a_reversal_separates_them(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await apply_migrations(conn, "complaint", SERVICE.migrations)
        await conn.execute("SET search_path TO complaint")
        case = await open_case(conn, SURVIVOR)

        async def found(ref: str) -> object:
            return await open_case_for_matter(conn, ref, "wait", "cn-2020", "b001")

        assert await found(SURVIVOR) == case
        assert await found(MERGED) is None
        merge = CustomersMerged(survivor_ref=SURVIVOR, merged_ref=MERGED, basis=MergeBasis.same_phone, at=T0)
        for _ in range(2):  # a redelivery changes nothing
            await customer_aliases.apply_merged(conn, merge)
        assert await found(MERGED) == case
        assert await found(STRANGER) is None
        # and the other way round: a case under the merged ref is the survivor's too
        await conn.execute("UPDATE complaint_board SET customer_ref = $1", MERGED)
        assert await found(SURVIVOR) == case
        await customer_aliases.apply_reversed(
            conn, CustomerMergeReversed(survivor_ref=SURVIVOR, merged_ref=MERGED, at=T0)
        )
        assert await found(SURVIVOR) is None and await found(MERGED) == case
    finally:
        await conn.close()
