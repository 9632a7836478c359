"""The progress-update chain decided in the transaction that ends a link (``services.followup.chain``):
the successor exists when staff's answer comes back, with the metadata the rule always gave it
(the rules' actor, the ending event as its cause), and staff dropping an update starts the next
one just the same; a closed complaint's update starts nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from services.followup.decider import stream_id, successor_id
from shared.contracts.complaint import ComplaintClosed
from tests.integration.followup.steps import T0, branch, list_tasks, wait_tasks
from tests.integration.followup.test_followup_service import COMPLAINTS, FOLLOWUP, received
from tests.support.events import Stream
from tests.support.harness import running
from tests.support.kafka import publish, published
from tests.support.texts import ref

pytestmark = pytest.mark.integration


async def test_staff_ending_a_progress_update_starts_the_next_in_the_same_transaction(
    database_url: str, kafka: Any
) -> None:
    bootstrap = kafka.bootstrap_servers
    b = branch()
    complaint_id = uuid4()
    case = Stream(f"complaint-{complaint_id}", b, at=T0)
    async with running("followup", database_url, bootstrap) as svc:
        await publish(bootstrap, COMPLAINTS, case.next(received(complaint_id)))
        [first] = await wait_tasks(svc, b, 1)
        assert (await svc.post(f"/follow-ups/{first['task_id']}/contact", {"reached": True})).is_success
        done = await svc.post(f"/follow-ups/{first['task_id']}/complete", {})
        assert done.status_code == 200, done.text

        # no waiting: the successor was written with the completion
        [second] = await list_tasks(svc, b)
        assert second["task_id"] == str(successor_id(first["task_id"]))
        assert second["previous_task_id"] == first["task_id"]
        [completed] = await published(
            bootstrap, FOLLOWUP, lambda e: e.type == "FollowUpCompleted" and e.branch_id == b
        )
        [scheduled] = await published(
            bootstrap,
            FOLLOWUP,
            lambda e: e.type == "FollowUpScheduled" and e.data["task_id"] == second["task_id"],
        )
        assert scheduled.actor == "system:followup-rules"
        assert scheduled.causation_id == completed.event_id
        assert scheduled.correlation_id == completed.correlation_id

        # dropped by staff: the next one too
        dropped = await svc.post(f"/follow-ups/{second['task_id']}/cancel", {"reason": "duplicate"})
        assert dropped.status_code == 200, dropped.text
        [third] = await list_tasks(svc, b)
        assert third["previous_task_id"] == second["task_id"]

        # the complaint closes (its open update is cancelled by the rule: no successor)
        await publish(
            bootstrap,
            COMPLAINTS,
            case.next(ComplaintClosed(complaint_id=complaint_id, at=T0, result=ref("ok"))),
        )
        await wait_tasks(svc, b, 2, "cancelled")
        assert await list_tasks(svc, b) == []


async def test_a_breach_does_not_wait_for_the_complaints_row_it_is_fired_again(
    database_url: str, kafka: Any
) -> None:
    """The SLA clock holds the task's deadline row: it does not wait for a complaint row someone
    else holds (staff's command, a close: they take it first), it fires again 30 s later."""
    bootstrap = kafka.bootstrap_servers
    b = branch()
    complaint_id = uuid4()
    case = Stream(f"complaint-{complaint_id}", b, at=T0)
    async with running("followup", database_url, bootstrap) as svc:
        await publish(bootstrap, COMPLAINTS, case.next(received(complaint_id)))
        [first] = await wait_tasks(svc, b, 1)
        task_stream = stream_id(UUID(first["task_id"]))
        svc.clock.advance(timedelta(hours=24, minutes=1))
        async with svc.ctx.pool.acquire() as holder, holder.transaction():
            await holder.execute("SELECT 1 FROM complaints WHERE complaint_id = $1 FOR UPDATE", complaint_id)
            await svc.tick()  # the at-risk milestone fires; the breach is tried again later
        assert "SlaBreached" not in await svc.stream_types(task_stream)
        assert len(await list_tasks(svc, b)) == 1
        svc.clock.advance(timedelta(seconds=31))
        assert await svc.tick() == 1  # the breach
        assert (await svc.stream_types(task_stream))[-1] == "SlaBreached"
        [upcoming] = await list_tasks(svc, b, "due")
        assert upcoming["previous_task_id"] == first["task_id"]
