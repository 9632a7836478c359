"""Events of the complaint context (``complaint.events.v1``)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import Field

from shared.registry import EventData, event

#: pseudonymous customer reference (keyed HMAC of the identity), never raw PII
CustomerRef = Annotated[str, Field(pattern=r"^[A-Za-z0-9_\-]{8,64}$")]


class Channel(StrEnum):
    in_branch = "in_branch"
    phone_hotline = "phone_hotline"
    web = "web"
    app = "app"
    letter = "letter"
    third_party_platform = "third_party_platform"
    internal_staff = "internal_staff"
    survey = "survey"


@event("ComplaintReceived")
class ComplaintReceived(EventData):
    complaint_id: UUID
    channel: Channel
    customer_ref: CustomerRef
    description: str = Field(min_length=1, max_length=4000)
    visit_id: UUID | None = None
    received_at: datetime
