"""A task's decoded stream is kept by version (``shared.stream_cache``), and the database still
decides: a staff command another process ran (its own cache, the same database) is read with
this process's next load, which then agrees with a full decode of the stored stream; a cached
prefix the store does not confirm is dropped and the stream read whole."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from uuid import UUID, uuid4

import pytest

from services.followup.app import FollowUpApp
from services.followup.decider import RecordContact, Task, TaskStatus, stream_id
from shared.commands import CommandHandler, Loaded
from shared.envelope import Metadata
from tests.integration.followup.steps import T0, branch, wait_tasks
from tests.integration.followup.test_followup_service import COMPLAINTS, received
from tests.support.events import Stream
from tests.support.harness import Running, running
from tests.support.kafka import publish

pytestmark = pytest.mark.integration


async def _task(svc: Running, bootstrap: str) -> UUID:
    b, complaint_id = branch(), uuid4()
    await publish(
        bootstrap, COMPLAINTS, Stream(f"complaint-{complaint_id}", b, at=T0).next(received(complaint_id))
    )
    [task] = await wait_tasks(svc, b, 1)
    return UUID(task["task_id"])


async def _same_as_stored(app: FollowUpApp, task_id: UUID) -> Loaded[Task]:
    """The cached load equals a full decode (a handler without a cache) of the stored stream."""
    h = app.handler
    cached = await h.load(stream_id(task_id))
    full = await CommandHandler(h.service, h.store, h.decider, h.clock, text_keys=True).load(
        stream_id(task_id)
    )
    assert (cached.state, cached.version) == (full.state, full.version)
    assert [e.event_id for e in cached.history] == [e.event_id for e in full.history]
    return cached


async def test_another_process_append_is_read_with_the_next_load(database_url: str, kafka: Any) -> None:
    bootstrap = kafka.bootstrap_servers
    async with running("followup", database_url, bootstrap) as svc:
        app: FollowUpApp = svc.app
        cache = app.stream_cache
        task_id = await _task(svc, bootstrap)
        stream = stream_id(task_id)
        assert (await svc.post(f"/follow-ups/{task_id}/contact", {"reached": False})).is_success
        kept = cache.get(stream)
        assert kept is not None and kept.version == 2  # the route's load, then the command's append

        # another replica (its own app and cache, the same database) records a contact
        other = FollowUpApp(app.store, app.clock, app.deadlines, app.texts, app.rules)
        contact = RecordContact(reached=True, at=app.clock.now())
        await other.for_staff(kept.state).execute(task_id, contact, Metadata(actor="lm-007"))
        assert cache.get(stream).version == 2  # type: ignore[union-attr]  # stale here

        hits = cache.hits
        done = await svc.post(f"/follow-ups/{task_id}/complete", {"note": "told the customer"})
        assert done.status_code == 200, done.text
        assert (done.json()["status"], done.json()["version"]) == ("completed", 4)  # decided on the contact
        assert cache.hits == hits + 1 and cache.get(stream).version == 4  # type: ignore[union-attr]
        assert (await _same_as_stored(app, task_id)).state.reached


async def test_a_prefix_the_store_does_not_confirm_is_dropped(database_url: str, kafka: Any) -> None:
    bootstrap = kafka.bootstrap_servers
    async with running("followup", database_url, bootstrap) as svc:
        app: FollowUpApp = svc.app
        cache = app.stream_cache
        task_id = await _task(svc, bootstrap)
        stream = stream_id(task_id)
        assert (await svc.post(f"/follow-ups/{task_id}/contact", {"reached": True})).is_success
        true = cache.get(stream)
        assert true is not None and true.version == 2

        # another event at the cached version (a prefix that rolled back, a restored database)
        phantom = [*true.history[:-1], true.history[-1].model_copy(update={"event_id": uuid4()})]
        cache.put(stream, Loaded(replace(true.state, status=TaskStatus.cancelled), 2, phantom))
        done = await svc.post(f"/follow-ups/{task_id}/complete", {})
        assert done.status_code == 200, done.text
        assert (done.json()["status"], done.json()["version"]) == ("completed", 3)
        await _same_as_stored(app, task_id)
