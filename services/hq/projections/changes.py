"""A batch of HQ's contract events (``hqfeed.events.v1``) as read-model changes: pure, no I/O.

The branch side already folded its domain events into counter deltas, complaint snapshots and
remediation facts; here a batch of them (in order, de-duplicated by the projection runner) is
merged so that each read-model table gets one statement: deltas add up, the newest snapshot of a
complaint wins, a remediation column keeps its first known value, and a breach opened and closed
within the batch cancels out. Crisis slots arrive per minute of receipt and are summed into HQ's
own slot length for the categories HQ watches.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from services.hq.patterns import floor_time
from shared.contracts.hqfeed import BranchKpisDelta, ComplaintFactsUpdated, RemediationActionUpdated
from shared.envelope import Envelope


@dataclass
class HqChanges:
    #: (branch, day) → counter deltas
    day: dict[tuple[str, date], dict[str, float]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(float))
    )
    #: (branch, day, sla) → met / breached / late / at_risk
    day_sla: dict[tuple[str, date, str], Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    #: (branch, day, category, nature, channel) → received / closed
    day_category: dict[tuple[str, date, str, str, str], Counter[str]] = field(
        default_factory=lambda: defaultdict(Counter)
    )
    #: complaint id → the latest snapshot's column values
    complaints: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: task id → column values, the first known of each
    remediation: dict[str, dict[str, Any]] = field(default_factory=dict)
    breaches_added: dict[tuple[str, str], tuple[str, str, datetime]] = field(default_factory=dict)
    breaches_deleted: set[tuple[str, str]] = field(default_factory=set)
    received: Counter[str] = field(default_factory=Counter)
    received_latest: dict[str, datetime] = field(default_factory=dict)
    #: branch → (first occurred_at, last recorded_at) of its domain events
    branches: dict[str, tuple[datetime, datetime]] = field(default_factory=dict)
    #: (category, HQ slot start, branch) → classified complaints
    slots: Counter[tuple[str, datetime, str]] = field(default_factory=Counter)
    #: customers whose complaints changed (repeat-complainant check)
    customer_refs: set[str] = field(default_factory=set)
    #: the latest recorded_at of the domain events behind each delta (freshness)
    source_recorded_at: list[datetime] = field(default_factory=list)


def fold_contract(
    events: Iterable[Envelope], *, slot: timedelta, crisis_categories: frozenset[str] = frozenset()
) -> HqChanges:
    c = HqChanges()
    for env in events:
        if env.type == BranchKpisDelta.event_type:
            _delta(c, BranchKpisDelta.model_validate(env.data), slot, crisis_categories)
        elif env.type == ComplaintFactsUpdated.event_type:
            facts = ComplaintFactsUpdated.model_validate(env.data)
            row = facts.model_dump()
            row["complaint_id"] = str(facts.complaint_id)
            c.complaints[row["complaint_id"]] = row
            if facts.customer_ref is not None and facts.received_at is not None:
                c.customer_refs.add(facts.customer_ref)
        elif env.type == RemediationActionUpdated.event_type:
            task = RemediationActionUpdated.model_validate(env.data).model_dump()
            known = c.remediation.setdefault(str(task["task_id"]), task)
            for name, value in task.items():
                if known.get(name) is None:
                    known[name] = value
    return c


def _delta(c: HqChanges, d: BranchKpisDelta, slot: timedelta, watched: frozenset[str]) -> None:
    b = d.branch_id
    seen = c.branches.get(b)
    c.branches[b] = (
        (d.first_event_at, d.last_event_at)
        if seen is None
        else (min(seen[0], d.first_event_at), max(seen[1], d.last_event_at))
    )
    c.source_recorded_at.append(d.last_event_at)
    for day in d.days:
        if day.counters:  # a day with only a category move has no branch_day change
            counters = c.day[(b, day.day)]
            for name, value in day.counters.items():
                counters[name] += value
        for s in day.sla:
            c.day_sla[(b, day.day, s.sla)].update(
                {"met": s.met, "breached": s.breached, "late": s.late, "at_risk": s.at_risk}
            )
        for k in day.categories:
            c.day_category[(b, day.day, k.category, k.nature, k.channel)].update(
                {"received": k.received, "closed": k.closed}
            )
    if d.complaints_received:
        c.received[b] += d.complaints_received
    if d.complaints_received_at is not None:
        latest = c.received_latest.get(b)
        if latest is None or d.complaints_received_at > latest:
            c.received_latest[b] = d.complaints_received_at
    for n in d.crisis_slots:
        if not watched or n.category in watched:
            c.slots[(n.category, floor_time(n.slot, slot), b)] += n.complaints
    # deletions run before insertions: a breach closed then opened again is the new one
    for gone in d.breaches_closed:
        key = (gone.subject_id, gone.sla)
        c.breaches_added.pop(key, None)
        c.breaches_deleted.add(key)
    for opened in d.breaches_opened:
        c.breaches_added[(opened.subject_id, opened.sla)] = (b, opened.subject_type or "", opened.breached_at)
