"""This context's private texts a stream's events refer to, read in the same statement as the
stream (a route's load, ``shared.commands.ReadWith``): the view after a command shows them without
reading them again after the commit (issue 19).

The rows come without their owner's key: the keys the stream's texts go under come with the load
anyway (``shared.text_owners.STREAM_KEYS``, :attr:`~shared.commands.Loaded.text_keys`). Read
without a lock, like the stream itself: a text never changes once written, and an erasure
removes its owner's key, so a text whose key did not come with the stream (erased, or a text
this command wrote) is left for the caller to read (:meth:`StreamTexts.found` leaves it out).

One mechanism for every service with texts: :func:`read_texts` for a handler whose load reads
only these; :func:`texts_column` and :meth:`StreamTexts.of` for a :class:`ReadWith` that reads
more beside them (complaint's case: its deadlines too).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from shared.command_values import ReadWith
from shared.contracts.text import TEXT_CONTEXTS, TextRef
from shared.texts import PrivateTexts, StoredText

#: the column :func:`texts_column` names by default
COLUMN = "stream_texts"


def texts_column(context: str, name: str = COLUMN) -> str:
    """A column to select beside a stream's load (``$1``: the stream id): the rows of
    ``private_texts`` of ``context`` that the stream's events refer to (an array of rows)."""
    if context not in TEXT_CONTEXTS:  # inlined in the SQL: one of the known names only
        raise ValueError(f"{context!r} keeps no texts")
    return f"""array(SELECT t FROM private_texts t WHERE t.text_id IN (
        SELECT (jsonb_path_query(e.data, 'strict $.** ? (@.context == "{context}").text_id') #>> '{{}}')::uuid
        FROM events e WHERE e.stream_id = $1)) AS {name}"""


@dataclass(frozen=True)
class StreamTexts:
    """The rows :func:`texts_column` read, by text id (without the owner's key)."""

    rows: Mapping[UUID, Mapping[str, Any]]

    @classmethod
    def of(cls, row: Mapping[str, Any], name: str = COLUMN) -> StreamTexts:
        return cls({t["text_id"]: dict(t) for t in row[name] or ()})

    def found(
        self, texts: PrivateTexts, text_ids: Iterable[UUID], keys: Mapping[str, bytes]
    ) -> dict[UUID, StoredText]:
        """Those of ``text_ids`` read with the stream whose owner's key came with it (``keys``:
        :attr:`~shared.commands.Loaded.text_keys`), decrypted; the others are left out."""
        rows = []
        for text_id in text_ids:
            row = self.rows.get(text_id)
            if row is not None and row["owner"] in keys:
                rows.append({**row, "wrapped_key": keys[row["owner"]]})
        return texts.decrypted(rows)

    def stored(
        self, texts: PrivateTexts, refs: Sequence[TextRef | None], keys: Mapping[str, bytes]
    ) -> dict[UUID, StoredText] | None:
        """This context's texts among ``refs``, all of them (:meth:`found`); None when one of
        them is not there (then the caller reads them)."""
        own = {r.text_id for r in refs if r is not None and r.context == texts.context and r.text_id}
        found = self.found(texts, own, keys)
        return found if len(found) == len(own) else None


def read_texts(context: str) -> ReadWith:
    """A handler's :class:`ReadWith` that reads only ``context``'s texts of the stream; its
    :attr:`~shared.commands.Loaded.locked` is a :class:`StreamTexts`."""
    return ReadWith(texts_column(context), StreamTexts.of)
