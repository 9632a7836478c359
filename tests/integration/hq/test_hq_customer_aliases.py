"""HQ's alias table over real PostgreSQL: the vault's merges and reversals give the same aliases in
any arrival order (a merge and its reversal recorded at two branches travel on two streams), and
merges of merges resolve to the last survivor."""

from __future__ import annotations

import itertools
from datetime import timedelta

import asyncpg

from shared.customer_aliases import AliasFact, customer_groups, record_alias_facts
from tests.integration.hq.steps import now
from tests.integration.hqfeed.folds import connect


async def test_aliases_do_not_depend_on_the_order_facts_arrive_in(database_url: str) -> None:
    url = database_url
    pool = await connect(url, "hq")
    await pool.close()
    t = now()
    facts = [
        AliasFact(True, "ref_bbbb", "ref_aaaa", t),  # B merged into A …
        AliasFact(False, "ref_bbbb", "ref_aaaa", t + timedelta(minutes=1)),  # … undone
        AliasFact(True, "ref_bbbb", "ref_cccc", t + timedelta(minutes=2)),  # B merged into C
        AliasFact(True, "ref_cccc", "ref_dddd", t + timedelta(minutes=3)),  # C merged into D
    ]
    conn = await asyncpg.connect(url, server_settings={"search_path": "hq"})
    try:
        for order in itertools.permutations(facts):
            await conn.execute("TRUNCATE customer_aliases, customer_alias_facts")
            for fact in order:  # one at a time, as separate batches would
                await record_alias_facts(conn, [fact])
            aliases = await conn.fetch("SELECT merged_ref, survivor_ref FROM customer_aliases")
            assert {(r["merged_ref"], r["survivor_ref"]) for r in aliases} == {
                ("ref_bbbb", "ref_cccc"),
                ("ref_cccc", "ref_dddd"),
            }, order
        assert await customer_groups(conn, {"ref_bbbb", "ref_aaaa", "ref_eeee"}) == {
            "ref_aaaa": "ref_aaaa",
            "ref_bbbb": "ref_dddd",
            "ref_cccc": "ref_dddd",
            "ref_dddd": "ref_dddd",
            "ref_eeee": "ref_eeee",
        }
    finally:
        await conn.close()
