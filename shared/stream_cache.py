"""Streams this process already decoded, kept by version: a load reads and decodes only the events
appended since (issue 19: a case's load parsed, validated and folded every event of the stream
again on every request, a fifth of a lifecycle step's CPU).

A :class:`~shared.commands.CommandHandler` built with a cache (``stream_cache=``) loads a stream
with :func:`stream_sql`, whose ``$2`` is the version cached (0: none) and which also answers the
id of the event stored at that version. The prefix is used only when that id is the cached last
event's: events are never changed nor deleted, so the same event at the same version is the same
prefix, and the new events are folded onto the cached state. Anything else (a stream shorter
than the cache, a database restored to an earlier point, another event at that version) drops
the entry and the stream is read whole. So the cache never decides on its own: every load asks
the database, in the same one statement as before, and a stale entry costs one more read.

What goes in is committed only (an uncommitted prefix could roll back, and another writer's event
take its version): a load on a pooled connection outside any transaction
(:meth:`CommandHandler.load` without ``conn``), and a command's own append once its statement or
transaction committed (:meth:`StreamCache.appended`); never a load inside a caller's transaction,
which may see its own uncommitted events. Several processes each keep their own: one that missed
another's append reads the new events with its next load, as above, and an append on a stale
state is refused by the append's version check as always.

Bounded (least recently used out first): the recent cases are the ones staff work on.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar
from uuid import UUID

from shared.command_values import Loaded
from shared.envelope import Envelope
from shared.eventstore import ENVELOPE_JSON
from shared.text_owners import STREAM_KEYS

S = TypeVar("S")

#: the events after version ``$2`` of the stream ``$1`` as envelope JSON, and the id of the event at
#: ``$2`` (null for 0 or a missing one)
_AFTER = f"""array(SELECT {ENVELOPE_JSON} FROM events WHERE stream_id = $1 AND stream_version > $2
                 ORDER BY stream_version) AS history,
       (SELECT event_id FROM events WHERE stream_id = $1 AND stream_version = $2) AS cached_event"""

#: one row: the events after ``$2`` (``history``), the event at ``$2`` (``cached_event``)
AFTER_SQL = f"SELECT {_AFTER}"

#: the same and the wrapped data keys the stream's texts may go under (as ``STREAM_WITH_KEYS_SQL``)
AFTER_WITH_KEYS_SQL = f"""
SELECT {_AFTER}, k.key_owners, k.key_values
FROM (SELECT array_agg(owner) AS key_owners, array_agg(wrapped_key) AS key_values
      FROM ({STREAM_KEYS}) AS keys) AS k
"""


class StreamCache(Generic[S]):
    """Decoded streams by id: their state, version and events, as committed (see the module)."""

    def __init__(self, size: int = 4096) -> None:
        if size < 1:
            raise ValueError("a stream cache keeps at least one stream")
        self.size = size
        self._streams: OrderedDict[str, Loaded[S]] = OrderedDict()
        #: loads that used a cached prefix, and those that read the stream whole
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._streams)

    def get(self, stream_id: str) -> Loaded[S] | None:
        """The stream as last cached (None: not cached); a load still reads what followed."""
        cached = self._streams.get(stream_id)
        if cached is not None:
            self._streams.move_to_end(stream_id)
        return cached

    def after(self, stream_id: str) -> tuple[Loaded[S] | None, int]:
        """The cached prefix and the version a load reads after (0: the whole stream)."""
        cached = self.get(stream_id)
        return cached, 0 if cached is None else cached.version

    def prefix(self, stream_id: str, cached: Loaded[S] | None, row: Mapping[str, Any]) -> Loaded[S] | None:
        """``cached`` if the load's ``row`` found its last event where the cache has it, else None
        (the entry is dropped: the load must be read whole, from version 0)."""
        if cached is None:
            self.misses += 1
            return None
        at: UUID | None = row["cached_event"]
        if at is None or at != cached.history[-1].event_id:
            self.drop(stream_id)
            return None
        self.hits += 1
        return cached

    async def load(
        self,
        stream_id: str,
        read: Callable[[str, int], Awaitable[Sequence[Mapping[str, Any]]]],
        decode: Callable[[Mapping[str, Any], Loaded[S] | None], Loaded[S]],
        *,
        keep: bool,
    ) -> Loaded[S]:
        """The stream: ``read(stream_id, after)`` runs :data:`AFTER_SQL` (or a query embedding it:
        its one row is used),
        ``decode(row, prefix)`` folds its events onto the cached prefix (None: the whole stream);
        a prefix the row does not confirm is dropped and the stream read again whole. ``keep``:
        the load was of committed rows only (outside any transaction), so it is cached."""
        cached, after = self.after(stream_id)
        row = (await read(stream_id, after))[0]
        base = self.prefix(stream_id, cached, row)
        if cached is not None and base is None:
            row = (await read(stream_id, 0))[0]
        loaded = decode(row, base)
        if keep:
            self.put(stream_id, loaded)
        return loaded

    def put(self, stream_id: str, loaded: Loaded[S]) -> None:
        """Keep a committed stream (its state, version and events; nothing a load read beside them)."""
        if loaded.version == 0 or len(loaded.history) != loaded.version:
            return  # nothing to keep, or not the whole stream
        self._streams[stream_id] = Loaded(loaded.state, loaded.version, list(loaded.history))
        self._streams.move_to_end(stream_id)
        while len(self._streams) > self.size:
            self._streams.popitem(last=False)

    def appended(self, stream_id: str, before: Loaded[S], state: S, events: Sequence[Envelope]) -> None:
        """A command's own append, once committed: ``before`` (a committed load) and ``events``
        are the stream now, ``state`` what they fold to."""
        if events:
            self.put(stream_id, Loaded(state, before.version + len(events), [*before.history, *events]))

    def drop(self, stream_id: str) -> None:
        self._streams.pop(stream_id, None)
