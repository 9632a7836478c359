"""HQ's repeat-complainant detection joins customers the vault merged, through the contract only.

Reception's ``CustomersMerged`` / ``CustomerMergeReversed`` go on reception's topic; the real
aggregator (``services.hqfeed``) turns them into ``CustomerRefsMerged`` / ``CustomerRefsMergeReversed``
on ``hqfeed.events.v1``; the real HQ keeps them as aliases and resolves refs when it looks. Two
pairs of refs: A and B each complained in two branches (two repeat complainants → one after the
merge, two again after the reversal); C and D each in one (none → one → none). Complaint rows keep
the ref their events named throughout, and a rebuild from the topics ends where the live read
model is.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from services.simulator.envelopes import EnvelopeFactory, Made
from shared.contracts.customers import CustomerMergeReversed, CustomersMerged, MergeBasis, customer_stream
from shared.contracts.refs import synthetic_ref
from tests.integration.hq.steps import connect, now, publish, read
from tests.integration.hq.test_hq_rebuild import dump, rebuilt
from tests.support.auth import admin
from tests.support.harness import Running
from tests.support.kafka import read_topic
from tests.support.services import wait_until

pytestmark = pytest.mark.integration


async def repeats(hq: Running, refs: set[str]) -> dict[str, tuple[int, int]]:
    """customer_ref → (branches, complaints) of HQ's repeat complainants among ``refs``."""
    alerts = (await read(hq, "/hq/alerts", kind="repeat_complainant", limit=500))["alerts"]
    return {a["customer_ref"]: (a["branches"], a["complaints"]) for a in alerts if a["customer_ref"] in refs}


async def shows(hq: Running, refs: set[str], expected: dict[str, tuple[int, int]], what: str) -> None:
    async def done() -> bool:
        return await repeats(hq, refs) == expected

    await wait_until(done, timeout=30, interval=0.2, message=f"{what}: HQ never showed {expected}")


async def test_merged_refs_are_one_repeat_complainant_until_the_merge_is_reversed(hq: Running) -> None:
    f = EnvelopeFactory()
    run = uuid.uuid4().hex[:6]
    a, b, c, d = (synthetic_ref(f"merge-{x}-{run}") for x in "abcd")
    refs = {a, b, c, d}
    t0 = now() - timedelta(hours=10)
    branch = [f"r01-{run}-{i}" for i in range(6)]
    items: list[Made] = []
    for i, (ref, where) in enumerate([(a, 0), (a, 1), (b, 2), (b, 3), (c, 4), (d, 5)]):
        items += f.complaint(branch[where], t0 + timedelta(hours=i), customer_ref=ref, steps="acknowledged")
    await publish(hq, items)
    await shows(hq, refs, {a: (2, 2), b: (2, 2)}, "before the merge")

    # the vault merges B into A and D into C (each at its branch): one customer each from now on
    at = now()
    await publish(
        hq,
        [
            f.make(
                "reception",
                customer_stream(a),
                branch[0],
                CustomersMerged(survivor_ref=a, merged_ref=b, basis=MergeBasis.same_id_number, at=at),
                at,
            ),
            f.make(
                "reception",
                customer_stream(c),
                branch[4],
                CustomersMerged(survivor_ref=c, merged_ref=d, basis=MergeBasis.confirmed_by_staff, at=at),
                at,
            ),
        ],
    )
    await shows(hq, refs, {a: (4, 4), c: (2, 2)}, "after the merge")
    conn = await connect(hq)
    try:
        aliases = await conn.fetch("SELECT merged_ref, survivor_ref FROM customer_aliases ORDER BY 1")
        rows = await conn.fetch(
            "SELECT customer_ref, count(*) AS n FROM complaints WHERE customer_ref = ANY($1) GROUP BY 1",
            sorted(refs),
        )
    finally:
        await conn.close()
    assert {(r["merged_ref"], r["survivor_ref"]) for r in aliases} == {(b, a), (d, c)}
    assert {r["customer_ref"]: r["n"] for r in rows} == {a: 2, b: 2, c: 1, d: 1}  # no row rewritten

    # the contract carries pseudonyms, the branch and the time: not the basis, nothing typed
    records = await read_topic(
        hq.bootstrap,
        "hqfeed.events.v1",
        until=lambda rs: sum(b'"CustomerRefsMerged"' in (r.value or b"") for r in rs) >= 2,
        timeout=10,
    )
    merges = [r.value for r in records if r.value and b'"CustomerRefsMerged"' in r.value]
    assert len(merges) == 2 and not any(b"basis" in m or b"confirmed_by_staff" in m for m in merges)

    # C became a repeat complainant through the merge: HQ publishes that alert (under the survivor)
    hq_events = await read_topic(
        hq.bootstrap,
        "hq.events.v1",
        until=lambda rs: any(c.encode() in (r.value or b"") for r in rs),
        timeout=10,
    )
    assert any(
        b'"RepeatComplainantDetected"' in (r.value or b"") and c.encode() in r.value for r in hq_events
    )

    # both merges undone: two customers each again, the complaints where they always were
    at = now()
    await publish(
        hq,
        [
            f.make(
                "reception",
                customer_stream(a),
                branch[0],
                CustomerMergeReversed(survivor_ref=a, merged_ref=b, at=at),
                at,
            ),
            f.make(
                "reception",
                customer_stream(c),
                branch[4],
                CustomerMergeReversed(survivor_ref=c, merged_ref=d, at=at),
                at,
            ),
        ],
    )
    await shows(hq, refs, {a: (2, 2), b: (2, 2)}, "after the reversal")

    # a rebuild from the contract topic replays merge and reversal: the same read model
    live = await dump(hq)
    response = await hq.http.post(f"{hq.url}/hq/admin/rebuild", headers=admin("hq-admin"))
    assert response.status_code == 202, response.text
    generation = response.json()["generation"]
    await wait_until(lambda: rebuilt(hq, generation), timeout=30, message="the rebuild never caught up")
    after = await dump(hq)
    for table in live:
        assert after[table] == live[table], f"{table} differs after the rebuild"
