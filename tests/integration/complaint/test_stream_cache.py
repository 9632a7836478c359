"""A case's decoded stream is kept by version (``shared.stream_cache``), and the database still
decides: an append the cache did not see is read with the next load, and a cached prefix the
store does not confirm (another event at its version, a stream shorter than it) is dropped and
the stream read whole. What a cached load gives equals what a full decode gives."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from uuid import UUID, uuid4

import pytest

from services.complaint import domain as d
from shared.commands import CommandHandler, Loaded
from shared.envelope import Metadata
from tests.integration.complaint.steps import new_complaint
from tests.support.harness import Running, RunService

pytestmark = pytest.mark.asyncio


def uncached(svc: Running) -> CommandHandler[d.Command, d.Complaint]:
    """The service's handler without a cache: a full decode of the stored stream."""
    h = svc.app.handler
    return CommandHandler(h.service, h.store, h.decider, h.clock, text_keys=True, read_with=h.read_with)


async def same_as_stored(svc: Running, stream_id: str) -> Loaded[d.Complaint]:
    cached = await svc.app.handler.load(stream_id)
    full = await uncached(svc).load(stream_id)
    assert cached.state == full.state
    assert cached.version == full.version
    assert [(e.event_id, e.type, e.data) for e in cached.history] == [
        (e.event_id, e.type, e.data) for e in full.history
    ]
    return cached


async def test_a_load_reads_what_followed_the_cached_version_and_agrees_with_a_full_decode(
    run_service: RunService,
) -> None:
    async with run_service("complaint") as svc:
        cache = svc.app.stream_cache
        case = await new_complaint(svc, "b001")
        cid: Any = case["complaint_id"]
        stream_id = d.stream_id(UUID(cid))
        cached = cache.get(stream_id)
        assert cached is not None and cached.version == 1  # the create's own append, committed

        # an append the cache does not see (a reaction's transaction; another replica's alike)
        async with svc.app.store.transaction() as conn:
            await svc.app.execute_in(
                conn, stream_id, d.Acknowledge(svc.app.clock.now()), meta=Metadata(actor="lm-007")
            )
        assert cache.get(stream_id).version == 1  # type: ignore[union-attr]
        hits = cache.hits
        shown = (await svc.get(f"/complaints/{cid}")).json()
        assert (shown["status"], shown["version"]) == ("acknowledged", 2)
        assert cache.hits == hits + 1 and cache.get(stream_id).version == 2  # type: ignore[union-attr]

        held = await svc.ok(cid, "hold", {"reason": "waiting on the statement"})
        assert held["version"] == 3 and cache.get(stream_id).version == 3  # type: ignore[union-attr]
        await same_as_stored(svc, stream_id)


async def test_a_prefix_the_store_does_not_confirm_is_dropped_and_the_stream_read_whole(
    run_service: RunService,
) -> None:
    async with run_service("complaint") as svc:
        cache = svc.app.stream_cache
        case = await new_complaint(svc, "b001")
        cid = case["complaint_id"]
        stream_id = d.stream_id(UUID(cid))
        await svc.ok(cid, "acknowledge")
        true = cache.get(stream_id)
        assert true is not None and true.version == 2

        # another event at the cached version (an uncommitted prefix that rolled back, a restore)
        other = replace(true.state, status=d.Status.closed)
        phantom = [*true.history[:-1], true.history[-1].model_copy(update={"event_id": uuid4()})]
        cache.put(stream_id, Loaded(other, 2, phantom))
        shown = (await svc.get(f"/complaints/{cid}")).json()
        assert (shown["status"], shown["version"]) == ("acknowledged", 2)
        assert cache.get(stream_id).history[-1].event_id == true.history[-1].event_id  # type: ignore[union-attr]

        # a cache ahead of the store (a database restored to an earlier point)
        ahead = [
            *true.history,
            true.history[-1].model_copy(update={"event_id": uuid4(), "stream_version": 3}),
        ]
        cache.put(stream_id, Loaded(other, 3, ahead))
        classified = await svc.ok(
            cid,
            "classify",
            {"category": "waiting_time", "nature": "general", "source": "walk_in", "urgency": "normal"},
        )
        assert classified["version"] == 3 and classified["status"] == "classified"
        await same_as_stored(svc, stream_id)
