"""SLA events, published by every context on its own topic (the shared SLA clock emits them)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field

from shared.registry import EventData, event

_NAME = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_.\-]+$")


class _SlaEvent(EventData):
    deadline_id: UUID
    #: which deadline, e.g. ``complaint.acknowledge``, ``reception.wait``, ``followup.due``
    sla: str = _NAME
    #: the policy (and regulatory profile) that set it, e.g. ``default`` or ``cn-2020``
    policy: str = _NAME
    #: what the deadline is about: ``complaint``, ``visit``, ``call``, ``follow_up``, ``survey``
    subject_type: str = _NAME
    subject_id: str = Field(min_length=1, max_length=128)
    started_at: datetime
    due_at: datetime
    #: the rule text behind the deadline, for the member of staff and the auditor
    rule: str = Field(default="", max_length=300)


@event("SlaAtRisk")
class SlaAtRisk(_SlaEvent):
    """Most of the time is used (default 80 %): act before the breach."""

    at: datetime
    used_fraction: float = Field(ge=0, le=1)


@event("SlaBreached")
class SlaBreached(_SlaEvent):
    at: datetime
