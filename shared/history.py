"""A stream's history as a detail view answers it: each event with its texts rendered for the reader."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from shared.envelope import Envelope
from shared.texts import TextReader


# one event of a stream as a detail view shows it, its texts rendered for the reader (no docstring:
# the OpenAPI schema ``HistoryEntry`` stays as it was)
class HistoryEntry(BaseModel):
    type: str
    stream_version: int
    occurred_at: datetime
    actor: str
    data: dict[str, Any]

    @classmethod
    def of(cls, event: Envelope, reader: TextReader) -> HistoryEntry:
        return cls(
            type=event.type,
            stream_version=event.stream_version,
            occurred_at=event.occurred_at,
            actor=event.actor,
            data=reader.render(event.data),
        )
