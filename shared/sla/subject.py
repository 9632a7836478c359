"""What a deadline is about, as one value."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Subject:
    """The kind of subject, its id, the stream it follows and the branch whose calendar counts its
    business time: the four always travel together, so a call site builds them once."""

    type: str
    id: str
    stream_id: str
    branch_id: str
