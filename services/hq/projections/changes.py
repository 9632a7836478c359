"""A batch of HQ's contract events (``hqfeed.events.v1``) as read-model changes: pure, no I/O.

The branch side already folded its domain events into counter deltas, complaint snapshots and
remediation facts; here a batch of them (in order, de-duplicated by the projection runner) is
merged so that each read-model table gets one statement: deltas add up, the newest snapshot of a
complaint wins, a remediation column keeps its first known value, and a breach opened and closed
within the batch cancels out; duplicate merges and reversals are kept in order. Crisis slots
arrive per minute of receipt and are summed into HQ's own slot length for the categories HQ
watches.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from typing import Any, Protocol, get_args

from pydantic import BaseModel

from services.hq.patterns import floor_time
from shared.contracts.hqfeed import (
    BranchKpisDelta,
    ComplaintFactsUpdated,
    CustomerRefsMerged,
    CustomerRefsMergeReversed,
    RemediationActionUpdated,
)
from shared.customer_aliases import AliasFact
from shared.envelope import Envelope
from shared.kpi_batch import KpiBatch


@dataclass
class HqChanges(KpiBatch):
    """A batch of contract records merged (slots in HQ's own slot length)."""

    #: complaint id → the latest snapshot's column values
    complaints: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: task id → column values, the first known of each
    remediation: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: duplicate merges and their reversals, in order (``customer_aliases``)
    aliases: list[AliasFact] = field(default_factory=list)
    #: the latest recorded_at of the domain events behind each delta (freshness)
    source_recorded_at: list[datetime] = field(default_factory=list)

    @classmethod
    def from_fold(cls, fold: FoldedBatch) -> HqChanges:
        """The changes straight from the branch side's fold of raw domain events
        (``services.hqfeed``'s ``BatchChanges``), without the contract in between: what a rebuild
        from the raw topics would write, which the contract equality test and ``bench.hqfeed``
        compare with the contract's."""
        if not isinstance(fold, KpiBatch):
            raise TypeError(f"a fold's changes are a KpiBatch, not {type(fold).__name__}")
        return cls(
            **{f.name: getattr(fold, f.name) for f in fields(KpiBatch)},
            complaints={k: c.model_dump() for k, c in fold.complaints.items()},
            remediation={k: t.model_dump() for k, t in fold.remediation.items()},
            aliases=[
                AliasFact(
                    isinstance(x, CustomerRefsMerged), x.merged_customer_ref, x.survivor_customer_ref, x.at
                )
                for x in fold.aliases
            ],
        )


class FoldedBatch(Protocol):
    """A batch as the branch side folds it before publishing it as contract events
    (``services.hqfeed.facts.BatchChanges``: a :class:`KpiBatch` with these facts; HQ does not
    import the branch side)."""

    @property
    def complaints(self) -> Mapping[str, ComplaintFactsUpdated]: ...

    @property
    def remediation(self) -> Mapping[str, RemediationActionUpdated]: ...

    @property
    def aliases(self) -> Sequence[CustomerRefsMerged | CustomerRefsMergeReversed]: ...


def _types(model: type[BaseModel]) -> tuple[frozenset[str], frozenset[str]]:
    """The fields of ``model`` that hold a time, and those that hold a date."""
    times, dates = set(), set()
    for name, f in model.model_fields.items():
        kinds = {f.annotation, *get_args(f.annotation)}
        if datetime in kinds:
            times.add(name)
        elif date in kinds:
            dates.add(name)
    return frozenset(times), frozenset(dates)


_FACT_TIMES, _FACT_DATES = _types(ComplaintFactsUpdated)
_TASK_TIMES, _ = _types(RemediationActionUpdated)
_FACT_DEFAULTS = {n: f.default for n, f in ComplaintFactsUpdated.model_fields.items() if not f.is_required()}
_TASK_DEFAULTS = {
    n: f.default for n, f in RemediationActionUpdated.model_fields.items() if not f.is_required()
}


def _ts(value: Any) -> Any:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _row(
    data: dict[str, Any], defaults: dict[str, Any], times: frozenset[str], dates: frozenset[str]
) -> dict[str, Any]:
    row = {**defaults, **data}
    for name in times:
        row[name] = _ts(row[name])
    for name in dates:
        if isinstance(row[name], str):
            row[name] = date.fromisoformat(row[name])
    return row


def fold_contract(
    events: Iterable[Envelope], *, slot: timedelta, crisis_categories: frozenset[str] = frozenset()
) -> HqChanges:
    """The changes of a batch of contract envelopes, in order. Their data was validated against the
    contract when the projection runner decoded them, so it is read as the JSON it is."""
    c = HqChanges()
    for env in events:
        if env.type == BranchKpisDelta.event_type:
            _delta(c, env.data, slot, crisis_categories)
        elif env.type == ComplaintFactsUpdated.event_type:
            row = _row(env.data, _FACT_DEFAULTS, _FACT_TIMES, _FACT_DATES)
            c.complaints[row["complaint_id"]] = row
            if row["customer_ref"] is not None and row["received_at"] is not None:
                c.customer_refs.add(row["customer_ref"])
        elif env.type == RemediationActionUpdated.event_type:
            task = _row(env.data, _TASK_DEFAULTS, _TASK_TIMES, frozenset())
            known = c.remediation.setdefault(task["task_id"], task)
            for name, value in task.items():
                if known.get(name) is None:
                    known[name] = value
        elif env.type in _ALIAS_TYPES:
            d = env.data
            c.aliases.append(
                AliasFact(
                    env.type == CustomerRefsMerged.event_type,
                    d["merged_customer_ref"],
                    d["survivor_customer_ref"],
                    _ts(d["at"]),
                )
            )
    return c


_ALIAS_TYPES = frozenset({CustomerRefsMerged.event_type, CustomerRefsMergeReversed.event_type})


def _delta(c: HqChanges, d: dict[str, Any], slot: timedelta, watched: frozenset[str]) -> None:
    b = d["branch_id"]
    first, last = _ts(d["first_event_at"]), _ts(d["last_event_at"])
    seen = c.branches.get(b)
    c.branches[b] = (first, last) if seen is None else (min(seen[0], first), max(seen[1], last))
    c.source_recorded_at.append(last)
    for day in d.get("days", ()):
        on = date.fromisoformat(day["day"])
        if day.get("counters"):  # a day with only a category move has no branch_day change
            counters = c.day[(b, on)]
            for name, value in day["counters"].items():
                counters[name] += value
        for s in day.get("sla", ()):
            c.day_sla[(b, on, s["sla"])].update(
                {k: s.get(k, 0) for k in ("met", "breached", "late", "at_risk")}
            )
        for k in day.get("categories", ()):
            c.day_category[(b, on, k["category"], k["nature"], k["channel"])].update(
                {"received": k.get("received", 0), "closed": k.get("closed", 0)}
            )
    if d.get("complaints_received"):
        c.received[b] += d["complaints_received"]
    received_at = _ts(d.get("complaints_received_at"))
    if received_at is not None:
        latest = c.received_latest.get(b)
        if latest is None or received_at > latest:
            c.received_latest[b] = received_at
    for n in d.get("crisis_slots", ()):
        if not watched or n["category"] in watched:
            c.slots[(n["category"], floor_time(_ts(n["slot"]), slot), b)] += n["complaints"]
    # deletions run before insertions: a breach closed then opened again is the new one
    for gone in d.get("breaches_closed", ()):
        key = (gone["subject_id"], gone["sla"])
        c.breaches_added.pop(key, None)
        c.breaches_deleted.add(key)
    for opened in d.get("breaches_opened", ()):
        key = (opened["subject_id"], opened["sla"])
        c.breaches_added[key] = (b, opened.get("subject_type") or "", _ts(opened["breached_at"]))
