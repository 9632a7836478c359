"""A folded batch as HQ's contract events, per branch: pure, no I/O.

Every branch the batch touched gets one :class:`BranchKpisDelta`, after the snapshots of the
complaints and remediation actions that changed and the duplicate merges / reversals of its vault
(HQ applies a branch's events in that order).
Values are copied field by field from the fold's state; the one translation is ``source`` (a
short label in the complaint service): a value that is not a code is published as ``other``, so
no typed words can ride on it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date, datetime

from services.hqfeed.facts import BatchChanges, ComplaintFacts, RemediationTask
from shared.contracts.hqfeed import (
    FLOAT_COUNTERS,
    BranchKpisDelta,
    CategoryCounts,
    ClosedBreach,
    ComplaintFactsUpdated,
    DayCounts,
    OpenBreach,
    RemediationActionUpdated,
    SlaCounts,
    SlotCount,
)
from shared.registry import EventData

_CODE = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
OTHER = "other"


def _code(value: str | None) -> str | None:
    if value is None:
        return None
    return value if _CODE.match(value) else OTHER


def facts_event(f: ComplaintFacts) -> ComplaintFactsUpdated:
    data = f.model_dump()
    data["source"] = _code(f.source)
    return ComplaintFactsUpdated.model_validate(data)


def remediation_event(t: RemediationTask) -> RemediationActionUpdated:
    return RemediationActionUpdated.model_validate(t.model_dump())


def _counter(name: str, value: float) -> float:
    return float(value) if name in FLOAT_COUNTERS else float(int(value))


def contract_events(
    changes: BatchChanges, breach_branch: dict[tuple[str, str], str]
) -> dict[str, list[EventData]]:
    """Branch → its contract events for this batch. ``breach_branch``: the branch of each open
    breach loaded before the batch (the fold's deletions name only subject and SLA)."""
    out: dict[str, list[EventData]] = defaultdict(list)
    for cid in sorted(changes.complaints):
        f = changes.complaints[cid]
        out[f.branch_id].append(facts_event(f))
    for task_id in sorted(changes.remediation):
        t = changes.remediation[task_id]
        if t.branch_id is not None:
            out[t.branch_id].append(remediation_event(t))
    for alias in changes.aliases:  # in the order the vault recorded them
        out[alias.branch_id].append(alias)
    sla: dict[tuple[str, date], list[SlaCounts]] = defaultdict(list)
    for k, v in sorted(changes.day_sla.items()):
        if any(v.values()):
            sla[(k[0], k[1])].append(SlaCounts(sla=k[2], **{o: int(n) for o, n in v.items()}))
    categories: dict[tuple[str, date], list[CategoryCounts]] = defaultdict(list)
    for ck, cv in sorted(changes.day_category.items()):
        if any(cv.values()):
            categories[(ck[0], ck[1])].append(
                CategoryCounts(
                    category=ck[2],
                    nature=ck[3],
                    channel=ck[4],
                    received=int(cv["received"]),
                    closed=int(cv["closed"]),
                )
            )
    days: dict[str, list[DayCounts]] = defaultdict(list)
    # every day with a counter, an SLA or a category change (a reclassification moves a count on
    # the receipt day, which may have no other change in the batch)
    for branch, day in sorted({*changes.day, *sla, *categories}):
        counters = {n: _counter(n, v) for n, v in changes.day.get((branch, day), {}).items() if v}
        days[branch].append(
            DayCounts(
                day=day,
                counters=counters,
                sla=sla.get((branch, day), []),
                categories=categories.get((branch, day), []),
            )
        )
    for branch, (first, last) in sorted(changes.branches.items()):
        out[branch].append(
            BranchKpisDelta(
                branch_id=branch,
                first_event_at=first,
                last_event_at=last,
                days=days.get(branch, []),
                complaints_received=changes.received.get(branch, 0),
                complaints_received_at=changes.received_latest.get(branch),
                crisis_slots=[
                    SlotCount(category=cat, slot=slot, complaints=n)
                    for (cat, slot, b), n in sorted(changes.slots.items())
                    if b == branch and n
                ],
                breaches_opened=[
                    OpenBreach(subject_id=s, sla=sla, subject_type=info[1] or None, breached_at=info[2])
                    for (s, sla), info in sorted(changes.breaches_added.items())
                    if info[0] == branch
                ],
                breaches_closed=[
                    ClosedBreach(subject_id=s, sla=sla)
                    for (s, sla) in sorted(changes.breaches_deleted)
                    if breach_branch.get((s, sla)) == branch
                ],
            )
        )
    return dict(out)


def last_recorded(changes: BatchChanges) -> dict[str, datetime]:
    """Branch → the latest ``recorded_at`` folded (what HQ's freshness is measured against)."""
    return {b: seen[1] for b, seen in changes.branches.items()}
