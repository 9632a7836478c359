"""The event envelope: every event, in the store and on Kafka, travels in one of these."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field

#: bounded so a forged message cannot smuggle huge identifiers into read models
_ID = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")


class Envelope(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: UUID
    type: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z][A-Za-z0-9]*$")
    schema_version: int = Field(ge=1, le=1000)
    stream_id: str = _ID
    stream_version: int = Field(ge=1)
    branch_id: str = _ID
    occurred_at: datetime
    recorded_at: datetime
    correlation_id: UUID
    causation_id: UUID | None = None
    actor: str = Field(min_length=1, max_length=128)
    data: dict[str, Any]


class Metadata(BaseModel):
    """Who and why: the part of an envelope a command brings with it."""

    model_config = ConfigDict(frozen=True)

    actor: str
    correlation_id: UUID = Field(default_factory=uuid4)
    causation_id: UUID | None = None


def to_json(envelope: Envelope) -> bytes:
    return envelope.model_dump_json().encode()


def from_json(raw: bytes | str) -> Envelope:
    """Parse and validate an envelope; raises pydantic.ValidationError on any defect."""
    return Envelope.model_validate_json(raw)
