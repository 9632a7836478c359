"""Staff ending a progress update in one statement (``services.followup.chain``: no transaction,
the complaint's row read with the task's load and guarded in the statement): a close or a hold
that takes the complaint's row first is waited for, and what it changed decides the successor;
the statement that found the row moved wrote nothing; a close racing the statement on the very
task (a deadlock) leaves one of the two whole, never half of each."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest

from services.followup.chain import rule_meta
from services.followup.decider import CancelTask, stream_id, successor_id
from shared.envelope import Envelope
from tests.integration.followup.steps import T0, branch, list_tasks, wait_tasks
from tests.integration.followup.test_followup_service import COMPLAINTS, received
from tests.support.events import Stream
from tests.support.harness import Running, running
from tests.support.kafka import publish

pytestmark = pytest.mark.integration

_LOCK = "SELECT 1 FROM complaints WHERE complaint_id = $1 FOR UPDATE"
_CLOSE = "UPDATE complaints SET status = 'closed' WHERE complaint_id = $1"
_HOLD = "UPDATE complaints SET hold_kind = 'waiting_on_customer' WHERE complaint_id = $1"


async def _reached_update(svc: Running, bootstrap: str, b: str) -> tuple[UUID, UUID, Envelope]:
    """A received complaint's first progress update, its customer reached (it may be completed)."""
    complaint_id = uuid4()
    received_event = Stream(f"complaint-{complaint_id}", b, at=T0).next(received(complaint_id))
    await publish(bootstrap, COMPLAINTS, received_event)
    [task] = await wait_tasks(svc, b, 1)
    assert (await svc.post(f"/follow-ups/{task['task_id']}/contact", {"reached": True})).is_success
    return complaint_id, UUID(task["task_id"]), received_event


async def _waits(post: asyncio.Task[Any]) -> None:
    """The command is held up (by the complaint's row someone else locked)."""
    await asyncio.sleep(0.5)
    assert not post.done()


async def test_a_close_holding_the_complaints_row_is_waited_for_and_starts_no_successor(
    database_url: str, kafka: Any
) -> None:
    bootstrap = kafka.bootstrap_servers
    b = branch()
    async with running("followup", database_url, bootstrap) as svc:
        complaint_id, task_id, _ = await _reached_update(svc, bootstrap, b)
        async with svc.ctx.pool.acquire() as closer:
            tx = closer.transaction()
            await tx.start()
            await closer.execute(_LOCK, complaint_id)
            post = asyncio.create_task(svc.post(f"/follow-ups/{task_id}/complete", {"note": "told them"}))
            await _waits(post)
            await closer.execute(_CLOSE, complaint_id)
            await tx.commit()
        done = await post
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "completed"
        assert done.json()["close_note"]["text"] == "told them"
        # the statement that found the row closed wrote nothing: one completion, once
        assert await svc.stream_types(stream_id(task_id)) == [
            "FollowUpScheduled",
            "FollowUpContacted",
            "FollowUpCompleted",
        ]
        assert await svc.stream_types(stream_id(successor_id(task_id))) == []
        assert await list_tasks(svc, b) == []


async def test_a_hold_taken_meanwhile_starts_the_successor_paused(database_url: str, kafka: Any) -> None:
    bootstrap = kafka.bootstrap_servers
    b = branch()
    async with running("followup", database_url, bootstrap) as svc:
        complaint_id, task_id, _ = await _reached_update(svc, bootstrap, b)
        async with svc.ctx.pool.acquire() as holder:
            tx = holder.transaction()
            await tx.start()
            await holder.execute(_LOCK, complaint_id)
            post = asyncio.create_task(svc.post(f"/follow-ups/{task_id}/complete", {}))
            await _waits(post)
            await holder.execute(_HOLD, complaint_id)
            await tx.commit()
        done = await post
        assert done.status_code == 200, done.text
        [successor] = await list_tasks(svc, b)
        assert successor["task_id"] == str(successor_id(task_id))
        assert successor["paused_at"] is not None
        types = await svc.stream_types(stream_id(successor_id(task_id)))
        assert types == ["FollowUpScheduled", "FollowUpPaused"]


async def test_a_close_racing_the_statement_on_the_same_task_leaves_one_of_them_whole(
    database_url: str, kafka: Any
) -> None:
    """The close holds the complaint's row and cancels the task the statement is completing (the
    statement appended its events first, then waits for the row): PostgreSQL aborts one of them
    (deadlock) and the other commits; a command aborted runs again and finds the task cancelled."""
    bootstrap = kafka.bootstrap_servers
    b = branch()
    async with running("followup", database_url, bootstrap) as svc:
        complaint_id, task_id, cause = await _reached_update(svc, bootstrap, b)
        cancel = CancelTask(reason=None, at=T0, automatic=True, rule="The complaint was closed.")
        closed = False
        async with svc.ctx.pool.acquire() as closer:
            tx = closer.transaction()
            await tx.start()
            await closer.execute(_LOCK, complaint_id)
            post = asyncio.create_task(svc.post(f"/follow-ups/{task_id}/complete", {}))
            await _waits(post)
            try:
                await svc.app.execute_in(closer, task_id, cancel, meta=rule_meta(cause))
                await closer.execute(_CLOSE, complaint_id)
                await tx.commit()
                closed = True
            except asyncpg.DeadlockDetectedError:
                await tx.rollback()
        done = await post
        types = await svc.stream_types(stream_id(task_id))
        successor = await svc.stream_types(stream_id(successor_id(task_id)))
        if closed:  # the command was the victim: run again, it found the task cancelled
            assert done.status_code == 409, done.text
            assert types[-1] == "FollowUpCancelled" and "FollowUpCompleted" not in types
            assert successor == []
        else:  # the close was: the completion and its successor, whole
            assert done.status_code == 200, done.text
            assert types[-1] == "FollowUpCompleted" and "FollowUpCancelled" not in types
            assert successor == ["FollowUpScheduled"]
