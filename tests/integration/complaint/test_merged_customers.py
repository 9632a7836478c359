"""A customer the vault merged is one complainant under both refs in complaint's repeat rule, from
the merge on; a reversal separates them again; a merge of a merge joins all three; and the answer
does not depend on the order the merges, the reversal and the case arrive in. Real PostgreSQL with
complaint's migrations, fed through the consumer's own handlers (``follow_merges``)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import asyncpg
import pytest

from services.complaint.projections import open_case_for_matter
from services.complaint.service import SERVICE
from shared import customer_aliases
from shared.contracts.customers import CustomerMergeReversed, CustomersMerged, MergeBasis
from shared.contracts.refs import synthetic_ref
from shared.migrations import apply_migrations
from shared.projection import EventHandlers
from shared.registry import EventData
from tests.support.events import make_envelope

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
            await customer_aliases.record_event(conn, merge)
        assert await found(MERGED) == case
        assert await found(STRANGER) is None
        # and the other way round: a case under the merged ref is the survivor's too
        await conn.execute("UPDATE complaint_board SET customer_ref = $1", MERGED)
        assert await found(SURVIVOR) == case
        await customer_aliases.record_event(
            conn, CustomerMergeReversed(survivor_ref=SURVIVOR, merged_ref=MERGED, at=T0)
        )
        assert await found(SURVIVOR) is None and await found(MERGED) == case
    finally:
        await conn.close()


A, B, C = (synthetic_ref(f"chain-{x}") for x in "abc")
T1, T2 = T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)
CHAIN: list[EventData] = [
    CustomersMerged(survivor_ref=B, merged_ref=A, basis=MergeBasis.same_phone, at=T0),
    CustomersMerged(survivor_ref=C, merged_ref=B, basis=MergeBasis.same_id_number, at=T1),
]
UNDONE = CustomerMergeReversed(survivor_ref=C, merged_ref=B, at=T2)


@pytest.mark.parametrize(
    ("history", "joined", "apart"),
    [(CHAIN, [A, B, C], []), ([*CHAIN, UNDONE], [A, B], [C])],
    ids=["A-B-then-B-C", "B-C-reversed"],
)
async def test_merges_of_merges_in_any_arrival_order_before_or_after_the_case(
    database_url: str, history: list[EventData], joined: list[str], apart: list[str]
) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await apply_migrations(conn, "complaint", SERVICE.migrations)
        await conn.execute("SET search_path TO complaint")
        consumer = customer_aliases.follow_merges(EventHandlers("reactions", []))
        envs = [
            make_envelope(f"customer-{i}", 1, type=e.event_type, data=e.model_dump(mode="json"))
            for i, e in enumerate(history)
        ]
        answers = set()
        for order in itertools.permutations(range(len(envs) + 1)):  # len(envs): the case arrives
            await conn.execute("TRUNCATE customer_aliases, customer_alias_facts, complaint_board")
            case = None
            for step in order:
                if step == len(envs):
                    case = await open_case(conn, A)
                else:
                    await consumer.apply(conn, [envs[step]])
            found = {
                ref: await open_case_for_matter(conn, ref, "wait", "cn-2020", "b001") for ref in (A, B, C)
            }
            assert all(found[ref] == case for ref in joined), order
            assert all(found[ref] is None for ref in apart), order
            answers.add(
                tuple(sorted(await conn.fetch("SELECT merged_ref, survivor_ref FROM customer_aliases")))
            )
        assert len(answers) == 1  # the same aliases whatever the order
    finally:
        await conn.close()
