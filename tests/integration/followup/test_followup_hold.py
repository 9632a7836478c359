"""A complaint on hold stops its progress updates' clocks (real PostgreSQL, real broker): nothing
falls due while the case waits, the clock resumes with the time that was left, a task done during
the hold starts its successor paused, and a close during the hold leaves nothing overdue."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from shared.contracts.complaint import (
    Channel,
    ComplaintClosed,
    ComplaintPutOnHold,
    ComplaintReceived,
    ComplaintResumed,
    HoldKind,
)
from tests.integration.followup.steps import T0, branch, list_tasks, wait_tasks
from tests.support.events import Stream
from tests.support.harness import Running, running
from tests.support.kafka import publish
from tests.support.services import wait_until
from tests.support.texts import ref

pytestmark = pytest.mark.integration

COMPLAINTS = "complaint.events.v1"


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def received(complaint_id: UUID) -> ComplaintReceived:
    return ComplaintReceived(
        complaint_id=complaint_id, channel=Channel.in_branch, customer_ref="cust_ref_0042",
        description=ref("fee charged twice"), received_at=T0,
    )  # fmt: skip


def hold(complaint_id: UUID, at: datetime) -> ComplaintPutOnHold:
    return ComplaintPutOnHold(
        complaint_id=complaint_id, reason=ref("waiting for the card network's test"),
        kind=HoldKind.external_appraisal, at=at,
    )  # fmt: skip


async def task_events(svc: Running, task_id: str) -> list[str]:
    rows = await svc.fetch(
        "SELECT type FROM events WHERE stream_id = $1 ORDER BY stream_version", f"followup-{task_id}"
    )
    return [r["type"] for r in rows]


async def clock_events(svc: Running, b: str) -> int:
    """SLA clock events on this branch's tasks (the scheduler also serves other tests' branches)."""
    rows = await svc.fetch(
        "SELECT count(*) AS n FROM events WHERE type IN ('SlaAtRisk', 'SlaBreached') AND branch_id = $1", b
    )
    return int(rows[0]["n"])


async def until_paused(svc: Running, task_id: str, paused: bool) -> dict[str, Any]:
    async def state() -> dict[str, Any] | None:
        task = (await svc.http.get(f"/follow-ups/{task_id}")).json()
        return task if (task["paused_at"] is not None) == paused else None

    return await wait_until(state, 15, message=f"task {task_id} paused={paused}")


async def test_no_progress_update_falls_due_while_the_case_is_on_hold(database_url: str, kafka: Any) -> None:
    bootstrap = kafka.bootstrap_servers
    b = branch()
    complaint_id = uuid4()
    case = Stream(f"complaint-{complaint_id}", b, at=T0)
    async with running("followup", database_url, bootstrap) as svc:
        await publish(bootstrap, COMPLAINTS, case.next(received(complaint_id)))
        [first] = await wait_tasks(svc, b, 1)
        assert first["due_at"] == iso(T0 + timedelta(hours=24))

        # the hold is applied before the service's clock moves on: a scheduler tick between the two
        # would see 20 of 24 hours gone and record an SLA warning the hold was meant to prevent
        await publish(bootstrap, COMPLAINTS, case.next(hold(complaint_id, T0 + timedelta(hours=20))))
        paused = await until_paused(svc, first["task_id"], True)
        assert paused["paused_at"] == iso(T0 + timedelta(hours=20)) and not paused["overdue"]
        svc.clock.advance(timedelta(hours=20))

        # ten days on hold: nothing fires, nothing is overdue or due, no successor appears
        svc.clock.advance(timedelta(days=10))
        await svc.tick()
        assert await clock_events(svc, b) == 0
        assert await list_tasks(svc, b, "overdue") == [] and await list_tasks(svc, b, "due") == []
        assert [t["task_id"] for t in await list_tasks(svc, b, "open")] == [first["task_id"]]
        # (the overdue gauge has no branch label and this service also folds other tests' cases from
        # the shared topic: the per-branch lists above are the check, not the process-wide gauge)

        resumed_at = T0 + timedelta(days=10, hours=20)
        await publish(
            bootstrap, COMPLAINTS, case.next(ComplaintResumed(complaint_id=complaint_id, at=resumed_at))
        )
        resumed = await until_paused(svc, first["task_id"], False)
        assert resumed["due_at"] == iso(T0 + timedelta(days=11)), "the 4 hours that were left"
        assert [t["task_id"] for t in await list_tasks(svc, b, "due")] == [first["task_id"]]
        deadline = next(d for d in resumed["deadlines"] if d["sla"] == "followup.due")
        assert deadline["due_at"].startswith(iso(T0 + timedelta(days=11))[:19])

        svc.clock.advance(timedelta(hours=3, minutes=59))
        await svc.tick()
        assert await list_tasks(svc, b, "overdue") == []
        svc.clock.advance(timedelta(minutes=2))
        await svc.tick()
        [overdue] = await list_tasks(svc, b, "overdue")  # only for the 24 h of running time
        assert overdue["task_id"] == first["task_id"]
        events = await task_events(svc, first["task_id"])
        assert events[:3] == ["FollowUpScheduled", "FollowUpPaused", "FollowUpResumed"]


async def test_a_task_done_on_hold_starts_its_successor_paused_and_a_close_ends_it(
    database_url: str, kafka: Any
) -> None:
    bootstrap = kafka.bootstrap_servers
    b = branch()
    complaint_id = uuid4()
    case = Stream(f"complaint-{complaint_id}", b, at=T0)
    async with running("followup", database_url, bootstrap) as svc:
        await publish(bootstrap, COMPLAINTS, case.next(received(complaint_id)))
        [first] = await wait_tasks(svc, b, 1)
        svc.clock.advance(timedelta(hours=2))
        await publish(bootstrap, COMPLAINTS, case.next(hold(complaint_id, T0 + timedelta(hours=2))))
        await until_paused(svc, first["task_id"], True)

        # staff still tell the customer during the hold: the next update's clock starts paused
        assert (
            await svc.post(f"/follow-ups/{first['task_id']}/contact", {"reached": True, "note": "told"})
        ).is_success
        done = await svc.post(f"/follow-ups/{first['task_id']}/complete", {"note": "waiting on the test"})
        assert done.status_code == 200
        [successor] = await wait_tasks(svc, b, 1)
        assert successor["previous_task_id"] == first["task_id"]
        await until_paused(svc, successor["task_id"], True)

        svc.clock.advance(timedelta(days=5))
        await svc.tick()
        assert await clock_events(svc, b) == 0
        assert await list_tasks(svc, b, "overdue") == []
        closed = ComplaintClosed(complaint_id=complaint_id, at=T0 + timedelta(days=5), result=ref("refunded"))
        await publish(bootstrap, COMPLAINTS, case.next(closed))
        cancelled = await wait_until(lambda: list_tasks(svc, b, "cancelled"), 15)
        assert [t["task_id"] for t in cancelled] == [successor["task_id"]]
        svc.clock.advance(timedelta(days=5))
        await svc.tick()
        assert await clock_events(svc, b) == 0
        assert await list_tasks(svc, b, "open") == [] and await list_tasks(svc, b, "overdue") == []
        breaches = await svc.fetch(
            "SELECT count(*) AS n FROM events WHERE type = 'SlaBreached' AND branch_id = $1", b
        )
        assert breaches[0]["n"] == 0
