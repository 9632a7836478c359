"""The contract loses nothing: a simulated morning folded straight into HQ's changes equals the same
morning folded by the aggregator in small batches, published as contract events (as JSON, defaults
left out, as the outbox stores them) and merged by HQ — counters, SLA outcomes, categories, case
facts, remediation, breaches, crisis slots. No database (the integration test does it with one)."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

from services.hq.patterns import floor_time
from services.hq.projections.changes import fold_contract
from services.hqfeed.facts import ComplaintFacts, FoldSettings
from services.hqfeed.fold import fold_batch
from services.hqfeed.publish import contract_events
from services.simulator.envelopes import EnvelopeFactory, branch_traffic, interleave
from shared.contracts.hqfeed import CRISIS_SLOT_MINUTES
from shared.envelope import Envelope

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
SLOT = timedelta(minutes=5)


def tz(_: str) -> tzinfo:
    return ZoneInfo("Asia/Shanghai")


def morning() -> list[Envelope]:
    rng = random.Random(4)
    factory = EnvelopeFactory()
    return [
        m.envelope
        for m in interleave([branch_traffic(factory, f"b{i}", T0, rng=rng, visits=40) for i in range(4)])
    ]


def nonzero(d: dict[Any, Any]) -> dict[Any, dict[str, float]]:
    return {k: {n: v for n, v in dict(c).items() if v} for k, c in d.items() if any(dict(c).values())}


def test_the_contract_carries_everything_hq_folds() -> None:
    events = morning()
    direct = fold_batch(events, facts={}, open_breaches=(), tz_of=tz, settings=FoldSettings(slot=SLOT))

    facts: dict[str, ComplaintFacts] = {}
    open_breaches: dict[tuple[str, str], str] = {}
    published: list[Envelope] = []
    versions: Counter[str] = Counter()
    settings = FoldSettings(slot=timedelta(minutes=CRISIS_SLOT_MINUTES))
    for i in range(0, len(events), 7):
        c = fold_batch(
            events[i : i + 7], facts=facts, open_breaches=open_breaches.keys(), tz_of=tz, settings=settings
        )
        out = contract_events(c, dict(open_breaches))
        for key in c.breaches_deleted:
            open_breaches.pop(key, None)
        open_breaches.update({k: v[0] for k, v in c.breaches_added.items()})
        for branch, datas in out.items():
            for data in datas:
                versions[branch] += 1
                published.append(
                    Envelope(
                        event_id=uuid4(),
                        type=data.event_type,
                        schema_version=data.schema_version,
                        stream_id=f"hqfeed:{branch}",
                        stream_version=versions[branch],
                        branch_id=branch,
                        occurred_at=T0,
                        recorded_at=T0,
                        correlation_id=uuid4(),
                        actor="system:hqfeed",
                        data=data.model_dump(mode="json", exclude_defaults=True),
                    )
                )
    merged = fold_contract(published, slot=SLOT)

    assert nonzero(merged.day) == nonzero(direct.day)
    assert nonzero(merged.day_sla) == nonzero(direct.day_sla)
    assert nonzero(merged.day_category) == nonzero(direct.day_category)
    assert merged.received == direct.received and merged.received_latest == direct.received_latest
    assert merged.branches == direct.branches
    assert +merged.slots == +Counter(
        {(c, floor_time(s, SLOT), b): n for (c, s, b), n in direct.slots.items()}
    )
    assert set(merged.breaches_added) - merged.breaches_deleted == set(direct.breaches_added)
    assert {k: (v[0], v[2]) for k, v in merged.breaches_added.items()} == {
        k: (v[0], v[2]) for k, v in direct.breaches_added.items()
    }
    assert set(merged.complaints) == set(direct.complaints) and direct.complaints
    for cid, f in direct.complaints.items():
        row = merged.complaints[cid]
        for name, value in f.model_dump().items():
            assert str(row[name]) == str(value), (cid, name, row[name], value)
    assert set(merged.remediation) == set(direct.remediation)
