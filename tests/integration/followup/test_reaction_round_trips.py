"""Round trips of follow-up's reactions to a complaint's lifecycle (issue 19), counted on the
service's pool (``shared.db_statements``): the consumer's transaction of a batch of one event.

Budgets, measured on a progress update with a hold's and a resume's inform-the-complainant tasks
(BEGIN, the progress rows' insert and lock, the progress record's statement and COMMIT are the
runner's five):

* put on hold: the complaint's row locked, its hold set and its customer read in ONE statement;
  the open progress updates; one load of the streams; the paused deadline's read; the two tasks'
  rows and deadlines (one pipelined statement each): 11 (13 when the lock, the hold and the
  customer were three statements and the customer's read flushed the pauses on their own);
* resumed: the same, the hold it ends read in that statement: 11 (14);
* closed: the row locked; its status and hold one write (two before); the open tasks, their load,
  their rows and deadlines: 11 (12).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest

from shared import db_statements
from shared.contracts.complaint import ComplaintClosed, ComplaintResumed
from tests.integration.followup.steps import T0, branch, list_tasks, wait_tasks
from tests.integration.followup.test_followup_hold import hold, received, until_paused
from tests.support.events import Stream
from tests.support.harness import Running, running
from tests.support.kafka import publish
from tests.support.round_trips import INTROSPECTION
from tests.support.services import wait_until
from tests.support.texts import ref

pytestmark = pytest.mark.integration

COMPLAINTS = "complaint.events.v1"


async def _reaction(bootstrap: str, env: Any, done: Any) -> list[str]:
    """The statements of the consumer's transaction that applied ``env`` (``done``: its effect)."""
    with db_statements.counting() as tally:
        await publish(bootstrap, COMPLAINTS, env)
        await done()
        await tally.settled(0.3)
    parts = [p for p in tally.parts() if any("projection_positions" in s for s in p)]
    statements = [s for p in parts for s in p if not any(m in s for m in INTROSPECTION)]
    print(f"\n{env.type}: {len(statements)} round trips", *statements, sep="\n  ")
    return statements


async def _lifecycle(svc: Running, bootstrap: str) -> tuple[list[str], list[str], list[str]]:
    b, complaint_id = branch(), uuid4()
    case = Stream(f"complaint-{complaint_id}", b, at=T0)
    await publish(bootstrap, COMPLAINTS, case.next(received(complaint_id)))
    [task] = await wait_tasks(svc, b, 1)
    at = T0 + timedelta(hours=1)

    async def paused() -> None:
        await until_paused(svc, task["task_id"], True)
        await wait_tasks(svc, b, 2)

    put_on_hold = hold(complaint_id, at).model_copy(update={"inform_complainant": True})
    held = await _reaction(bootstrap, case.next(put_on_hold), paused)

    async def running_again() -> None:
        await until_paused(svc, task["task_id"], False)
        await wait_tasks(svc, b, 3)

    resumed = ComplaintResumed(complaint_id=complaint_id, at=at + timedelta(hours=1), inform_complainant=True)
    again = await _reaction(bootstrap, case.next(resumed), running_again)

    async def none_open() -> None:
        async def empty() -> bool | None:
            return True if not await list_tasks(svc, b, "open") else None

        await wait_until(empty, 15, message="no open task")

    closed = ComplaintClosed(complaint_id=complaint_id, at=at + timedelta(hours=2), result=ref("refunded"))
    close = await _reaction(bootstrap, case.next(closed), none_open)
    return held, again, close


async def test_lifecycle_reactions_stay_within_their_round_trips(database_url: str, kafka: Any) -> None:
    bootstrap = kafka.bootstrap_servers
    async with running("followup", database_url, bootstrap) as svc:
        await _lifecycle(svc, bootstrap)  # prepare the statements on the pool's connections
        held, resumed, closed = await _lifecycle(svc, bootstrap)
    assert len(held) <= 11, held
    assert len(resumed) <= 11, resumed
    assert len(closed) <= 11, closed
