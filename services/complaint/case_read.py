"""What a route's load of a case reads in the same statement as its stream (``shared.commands.
ReadWith``): the case's deadlines, which the command's ``after_change`` then changes without
reading them again, and this service's texts the case's events refer to
(``shared.stream_texts``), which the case's view after the command then shows without reading
them again. Two round trips fewer per lifecycle step.

Both are read without a lock, like the stream itself: the command's append refuses a stream
changed since (its writers change the deadlines with it); a text never changes once written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from services.complaint.domain import stream_id
from shared.commands import ReadWith
from shared.sla.deadlines import Deadline, from_row
from shared.stream_texts import StreamTexts, texts_column

#: where the case's id starts in its stream id (1-based), ``complaint-<id>``
_ID_AT = len(stream_id(UUID(int=0))) - len(str(UUID(int=0))) + 1
#: this service's text context (``shared.texts``: the service's name)
CONTEXT = "complaint"


@dataclass(frozen=True)
class CaseRead:
    deadlines: list[Deadline]
    #: this context's texts the stream's events refer to (without the owners' keys)
    texts: StreamTexts


def _parse(row: Mapping[str, Any]) -> CaseRead:
    return CaseRead([from_row(d) for d in row["case_deadlines"] or ()], StreamTexts.of(row))


CASE_READ = ReadWith(
    f"""array(SELECT d FROM deadlines d WHERE d.subject_id = substr($1, {_ID_AT})) AS case_deadlines,
    {texts_column(CONTEXT)}""",
    _parse,
)
"""The case's deadlines and texts, read with its stream (a route's load)."""
