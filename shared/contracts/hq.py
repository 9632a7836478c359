"""Events of the headquarters context (``hq.events.v1``).

HQ records the cross-branch patterns it detects, so branches, operations and a crisis team can act
on them (crisis training: act before it spreads). Each alert is published once: its stream id is
derived from the alert key (see services/hq/README.md), so a rebuild of HQ's read model that
detects the same pattern again publishes nothing new.

No raw PII: a complainant is only ever a pseudonymous ``customer_ref``.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field

from shared.contracts.common import CustomerRef
from shared.registry import EventData, event

#: branch ids as they appear in envelopes
BranchIds = list[str]


@event("CrisisSuspected")
class CrisisSuspected(EventData):
    """Complaints of one category came from many branches within a short window (e.g. a system
    outage: ``system_failure`` in 5+ branches within an hour)."""

    alert_id: UUID
    #: the alert's stable key, e.g. ``spike:system_failure:20260302T1000``
    alert_key: str = Field(min_length=1, max_length=120)
    category: str = Field(min_length=1, max_length=64)
    #: the first window (by receipt time of the complaints) that crossed the threshold
    window_start: datetime
    window_end: datetime
    #: distinct branches and complaints in that window
    branches: int = Field(ge=1)
    complaints: int = Field(ge=1)
    #: a bounded sample of the branches (sorted), for the crisis team's first calls
    branch_ids: BranchIds = Field(default_factory=list, max_length=50)
    threshold_branches: int = Field(ge=1)
    window_minutes: int = Field(ge=1)
    #: the rule in words, for whoever reads the alert
    rule: str = Field(default="", max_length=300)
    detected_at: datetime


@event("RepeatComplainantDetected")
class RepeatComplainantDetected(EventData):
    """The same customer complained in two or more branches within the repeat window (30 days by
    default): one person's problem travelling between branches. Published at most once per
    customer and calendar month of the complaints."""

    alert_id: UUID
    alert_key: str = Field(min_length=1, max_length=120)
    customer_ref: CustomerRef
    branches: int = Field(ge=2)
    complaints: int = Field(ge=2)
    branch_ids: BranchIds = Field(default_factory=list, max_length=50)
    first_received_at: datetime
    last_received_at: datetime
    window_days: int = Field(ge=1)
    rule: str = Field(default="", max_length=300)
    detected_at: datetime
