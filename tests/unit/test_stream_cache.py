"""The stream cache's bookkeeping (``shared.stream_cache``): whole committed streams only, least
recently used out first, a prefix kept only when the load confirms its last event."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from shared.commands import Loaded
from shared.envelope import Envelope
from shared.stream_cache import StreamCache


def event(stream_id: str, version: int) -> Envelope:
    at = datetime(2026, 12, 7, tzinfo=UTC)
    return Envelope(
        event_id=uuid4(),
        type="T",
        schema_version=1,
        stream_id=stream_id,
        stream_version=version,
        branch_id="b001",
        occurred_at=at,
        recorded_at=at,
        correlation_id=uuid4(),
        actor="lm-1",
        data={},
    )


def stream(stream_id: str, n: int) -> Loaded[int]:
    return Loaded(n, n, [event(stream_id, v) for v in range(1, n + 1)])


def test_only_whole_streams_are_kept_and_the_least_recently_used_goes_first() -> None:
    cache: StreamCache[int] = StreamCache(2)
    cache.put("a", Loaded(0, 0, []))
    cache.put("a", Loaded(2, 2, stream("a", 1).history))  # not the whole stream
    assert len(cache) == 0
    cache.put("a", stream("a", 1))
    cache.put("b", stream("b", 2))
    assert cache.get("a") is not None  # a used: b is the least recently used
    cache.put("c", stream("c", 1))
    assert cache.get("b") is None and cache.get("a") is not None and len(cache) == 2


def test_an_append_extends_the_cached_stream_and_a_load_must_confirm_its_last_event() -> None:
    cache: StreamCache[int] = StreamCache()
    before = stream("a", 2)
    cache.put("a", before)
    cache.appended("a", before, 3, [event("a", 3)])
    cached, after = cache.after("a")
    assert cached is not None and after == 3 and cached.state == 3
    assert cache.prefix("a", cached, {"cached_event": cached.history[-1].event_id}) is cached
    assert cache.prefix("a", cached, {"cached_event": uuid4()}) is None
    assert cache.get("a") is None  # dropped: the next load reads the stream whole
    cache.put("a", before)
    assert cache.prefix("a", cache.get("a"), {"cached_event": None}) is None
    assert (cache.hits, cache.misses) == (1, 0)


def test_a_cache_keeps_at_least_one_stream() -> None:
    with pytest.raises(ValueError):
        StreamCache(0)
