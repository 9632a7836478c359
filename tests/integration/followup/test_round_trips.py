"""Round trips of follow-up's hottest staff command, completing a task, counted on the service's
pool (``shared.db_statements``; see ``tests/integration/complaint/test_round_trips.py``).

Budget: the task's load (also the branch check; with it the text keys, the task's texts and, for
a progress update, its complaint's row), then ONE statement without BEGIN and COMMIT
(``shared.one_statement``) with both tasks' events (``shared.append_many``, aborting when a stream
moved), their rows and deadlines (the task's ended in SQL, not read first:
``Deadlines.end_later``), the note, the audit row and the complaint's row locked and checked
(``services.followup.chain.GUARD``: the successor is decided from the row as the load read it): 2,
a note too. Until issue 19's third round the completion of a progress update was a transaction of
its own, the complaint's row locked first (5: load, BEGIN, lock, statement, COMMIT); before that
the successor's append and the deadline's read were statements of their own (7), and until the
successor was decided in the command's transaction the service reacted to its own completion on
its topic: 5 statements here, and about 9 more for the reaction and a second relay round.

Any other task (a verification, a callback: no link of the chain) is completed the same way: 2, a
note included (4 before).

A task's detail (``GET /follow-ups/{id}``): its stream, texts, keys and deadlines in the statement
of the branch check: 1 (4 when the route loaded the stream again, then read the deadlines and the
texts).

The task-creating reaction (a batch of one complaint, ``shared.reactions``): BEGIN, the progress
rows' insert and lock, every touched stream's load, one statement with the ``complaints`` row
(``reactions.write_alongside``), the task row, its deadline, the append and the progress record,
COMMIT: 6 (7 with the ``complaints`` row a statement ahead of the load, 10 when each reaction was
a savepoint of its own with the progress record a statement apart). A bigger batch costs the same:
its tasks', complaints' and deadlines' rows are JSON-rows parts of that one statement
(``tests/integration/test_reaction_batch_round_trips.py``; until then one pipelined
``executemany`` per table, of one execution per event).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest

from shared import db_statements
from shared.contracts.complaint import SolutionImplemented
from tests.integration.followup.steps import T0, branch, wait_tasks
from tests.integration.followup.test_followup_service import COMPLAINTS, received
from tests.support.events import Stream
from tests.support.harness import Running, running
from tests.support.kafka import publish
from tests.support.round_trips import INTROSPECTION, own_statements

pytestmark = pytest.mark.integration


async def _counted(svc: Running, path: str, body: dict[str, Any]) -> list[str]:
    return await own_statements(lambda: svc.post(path, body), 200, path)


async def test_completing_a_task_stays_within_its_round_trips(database_url: str, kafka: Any) -> None:
    bootstrap = kafka.bootstrap_servers
    b = branch()
    async with running("followup", database_url, bootstrap) as svc:
        for _ in range(6):  # each new complaint asks for a progress update
            complaint_id = uuid4()
            case = Stream(f"complaint-{complaint_id}", b, at=T0)
            await publish(bootstrap, COMPLAINTS, case.next(received(complaint_id)))
        tasks = await wait_tasks(svc, b, 6)
        ids = [t["task_id"] for t in tasks]
        for task_id in ids[:5]:  # the customer was reached: the tasks may be completed
            assert (await svc.post(f"/follow-ups/{task_id}/contact", {"reached": True})).is_success
        # (no note: this customer's first text, whose key another test may be creating meanwhile)
        contact = await _counted(svc, f"/follow-ups/{ids[5]}/contact", {"reached": True})
        for n, task_id in enumerate(ids[:4]):  # prepare the statements on the reused connections
            await svc.post(f"/follow-ups/{task_id}/complete", {"note": "told the customer"} if n % 2 else {})

        # the task-creating reaction: a new complaint's progress update, in the consumer's transaction
        complaint_id, other = uuid4(), branch()
        with db_statements.counting() as tally:
            await publish(
                bootstrap,
                COMPLAINTS,
                Stream(f"complaint-{complaint_id}", other, at=T0).next(received(complaint_id)),
            )
            await wait_tasks(svc, other, 1)
            await tally.settled(0.3)
        [part] = [part for part in tally.parts() if any("projection_positions" in s for s in part)]
        reaction = [s for s in part if not any(m in s for m in INTROSPECTION)]
        print(f"\ntask-creating reaction: {len(reaction)} round trips", *reaction, sep="\n  ")

        plain = await _counted(svc, f"/follow-ups/{ids[4]}/complete", {})
        with_note = await _counted(svc, f"/follow-ups/{ids[5]}/complete", {"note": "case is with HQ"})
        read: list[Any] = []

        async def get() -> Any:
            read.append(await svc.http.get(f"/follow-ups/{ids[5]}"))
            return read[-1]

        detail = await own_statements(get, 200, "a task's detail")

    assert len(reaction) <= 6, reaction
    assert not any(s.startswith("INSERT INTO complaints") for s in reaction), reaction  # with the append
    assert len(contact) <= 2, contact  # a progress update's other commands too (4 in a transaction)
    assert len(plain) <= 2, plain
    assert len(with_note) <= 2, with_note
    # the stream (the branch check's), its texts and keys, and its deadlines: one statement
    assert len(detail) <= 1, detail
    shown = read[0].json()
    assert shown["close_note"]["text"] == "case is with HQ" and shown["status"] == "completed"
    assert [(d["sla"], d["ended_at"] is not None) for d in shown["deadlines"]] == [("followup.due", True)]
    assert [h["type"] for h in shown["history"]][-1] == "FollowUpCompleted"


async def test_completing_a_task_outside_the_chain_is_one_statement(database_url: str, kafka: Any) -> None:
    """A verification (no link of the progress-update chain: no successor, no complaint's row
    locked) is completed with one statement after its load, no BEGIN, no COMMIT; its answer shows
    its note as a read does."""
    bootstrap = kafka.bootstrap_servers
    b = branch()
    async with running("followup", database_url, bootstrap) as svc:
        for _ in range(3):
            complaint_id = uuid4()
            case = Stream(f"complaint-{complaint_id}", b, at=T0)
            done = SolutionImplemented(
                complaint_id=complaint_id, solution_id=uuid4(), at=T0 + timedelta(hours=2)
            )
            await publish(bootstrap, COMPLAINTS, case.next(received(complaint_id)), case.next(done))
        ids = [t["task_id"] for t in await wait_tasks(svc, b, 3, kind="verification")]
        for n, task_id in enumerate(ids[:2]):  # prepare the statements on the reused connections
            body: dict[str, Any] = {"verified": True, **({"note": "checked"} if n % 2 else {})}
            assert (await svc.post(f"/follow-ups/{task_id}/complete", body)).is_success
        answers = []

        async def complete() -> Any:
            answers.append(
                await svc.post(f"/follow-ups/{ids[2]}/complete", {"verified": True, "note": "refund seen"})
            )
            return answers[-1]

        counted = await own_statements(complete, 200, "complete a verification with a note")
        stored = (await svc.http.get(f"/follow-ups/{ids[2]}")).json()
    # the load (with the text keys and the task's texts), then the one statement
    assert len(counted) <= 2, counted
    answer = answers[0].json()
    assert answer["close_note"]["text"] == "refund seen" and answer["status"] == "completed"
    assert answer["close_note"] == stored["close_note"]
