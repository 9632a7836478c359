"""What a route's load of a case reads in the same statement as its stream (``shared.commands.
ReadWith``): the case's deadlines, which the command's ``after_change`` then changes without
reading them again, and this service's texts the case's events refer to, which the case's view
after the command then shows without reading them again. Two round trips fewer per lifecycle step.

Both are read without a lock, like the stream itself: the command's append refuses a stream
changed since (its writers change the deadlines with it); a text never changes once written (an
erasure removes its key: a text whose owner's key did not come with the stream is read again).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from services.complaint.domain import stream_id
from shared.commands import ReadWith
from shared.contracts.text import TextRef
from shared.sla.deadlines import Deadline, from_row
from shared.texts import PrivateTexts, StoredText

#: where the case's id starts in its stream id (1-based), ``complaint-<id>``
_ID_AT = len(stream_id(UUID(int=0))) - len(str(UUID(int=0))) + 1
#: this service's text context (``shared.texts``: the service's name)
CONTEXT = "complaint"


@dataclass(frozen=True)
class CaseRead:
    deadlines: list[Deadline]
    #: rows of this context's texts the stream's events refer to, by id (without the owner's key)
    texts: Mapping[UUID, Mapping[str, Any]]

    def stored(
        self, texts: PrivateTexts, refs: Sequence[TextRef | None], keys: Mapping[str, bytes]
    ) -> dict[UUID, StoredText] | None:
        """This context's texts among ``refs`` decrypted with the owners' ``keys`` (read with the
        stream); None when one of them was not read with the stream (written by this command) or
        its owner's key did not come with it (then the caller reads them)."""
        own = {r.text_id for r in refs if r is not None and r.context == texts.context and r.text_id}
        rows = []
        for text_id in own:
            row = self.texts.get(text_id)
            if row is None or row["owner"] not in keys:
                return None
            rows.append({**row, "wrapped_key": keys[row["owner"]]})
        return texts.decrypted(rows)


def _parse(row: Mapping[str, Any]) -> CaseRead:
    texts = {t["text_id"]: dict(t) for t in row["case_texts"] or ()}
    return CaseRead([from_row(d) for d in row["case_deadlines"] or ()], texts)


CASE_READ = ReadWith(
    f"""array(SELECT d FROM deadlines d WHERE d.subject_id = substr($1, {_ID_AT})) AS case_deadlines,
    array(SELECT t FROM private_texts t WHERE t.text_id IN (
        SELECT (jsonb_path_query(e.data, 'lax $.** ? (@.context == "{CONTEXT}").text_id') #>> '{{}}')::uuid
        FROM events e WHERE e.stream_id = $1)) AS case_texts""",
    _parse,
)
"""The case's deadlines and texts, read with its stream (a route's load)."""
