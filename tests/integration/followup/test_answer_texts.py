"""A task command's answer shows the task's notes as ``GET /follow-ups/{id}`` does: the command's
own note from its batch, an earlier one from the rows the route's load read with the stream
(``shared.stream_texts``), with no read after the commit (issue 19)."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import httpx
import pytest

from tests.integration.followup.steps import T0, branch, wait_tasks
from tests.integration.followup.test_followup_service import COMPLAINTS, received
from tests.support.events import Stream
from tests.support.harness import running
from tests.support.kafka import publish
from tests.support.round_trips import own_statements

pytestmark = pytest.mark.integration

TEXTS = ("last_note", "close_note")


async def test_a_commands_answer_shows_the_notes_as_a_read_does(database_url: str, kafka: Any) -> None:
    bootstrap = kafka.bootstrap_servers
    b = branch()
    async with running("followup", database_url, bootstrap) as svc:
        complaint_id = uuid4()
        await publish(
            bootstrap, COMPLAINTS, Stream(f"complaint-{complaint_id}", b, at=T0).next(received(complaint_id))
        )
        [task] = await wait_tasks(svc, b, 1)
        task_id = task["task_id"]
        contacted = await svc.post(
            f"/follow-ups/{task_id}/contact", {"reached": True, "note": "called at noon"}
        )
        assert contacted.is_success, contacted.text
        assert contacted.json()["last_note"]["status"] == "shown"
        assert contacted.json()["last_note"]["text"] == "called at noon"
        answers = []

        async def complete() -> httpx.Response:
            answers.append(await svc.post(f"/follow-ups/{task_id}/complete", {"note": "refund confirmed"}))
            return answers[-1]

        statements = await own_statements(complete, 200, "complete with an earlier note")
        [completed] = answers
        read = await svc.http.get(f"/follow-ups/{task_id}")
        assert read.status_code == 200
    # the load (with the texts), BEGIN, the complaint's row, the one statement, COMMIT: no re-read
    assert len(statements) <= 5, statements
    answer, stored = completed.json(), read.json()
    assert answer["last_note"]["text"] == "called at noon"
    assert answer["close_note"]["text"] == "refund confirmed"
    for name in TEXTS:
        assert answer[name] == stored[name], name
