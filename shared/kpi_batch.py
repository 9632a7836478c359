"""What one batch changes of HQ's KPI tables, added up the same way on both sides of the contract:
the branch-side aggregator (``services.hqfeed``) folding domain events, and HQ merging the
aggregator's contract records (``services.hq.projections.changes``)."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass
class KpiBatch:
    #: (branch, day) → counter deltas (may be negative, e.g. an FCR close undone by a reopen)
    day: dict[tuple[str, date], dict[str, float]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(float))
    )
    #: (branch, day, sla) → met / breached / late / at_risk
    day_sla: dict[tuple[str, date, str], Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    #: (branch, day, category, nature, channel) → received / closed
    day_category: dict[tuple[str, date, str, str, str], Counter[str]] = field(
        default_factory=lambda: defaultdict(Counter)
    )
    #: open breaches to insert: (subject_id, sla) → (branch_id, subject_type, breached_at)
    breaches_added: dict[tuple[str, str], tuple[str, str, datetime]] = field(default_factory=dict)
    #: open breaches (present before the batch) to delete
    breaches_deleted: set[tuple[str, str]] = field(default_factory=set)
    #: complaints received per branch (table ``branch_complaints``) and the latest recorded_at
    received: Counter[str] = field(default_factory=Counter)
    received_latest: dict[str, datetime] = field(default_factory=dict)
    #: branch → (first occurred_at, last recorded_at) of its domain events in the batch
    branches: dict[str, tuple[datetime, datetime]] = field(default_factory=dict)
    #: (category, slot start, branch) → classified complaints received in that slot
    slots: Counter[tuple[str, datetime, str]] = field(default_factory=Counter)
    #: customer_refs whose complaints changed (repeat-complainant check)
    customer_refs: set[str] = field(default_factory=set)
