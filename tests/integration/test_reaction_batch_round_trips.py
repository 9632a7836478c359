"""Statements of a consumer batch of many reactions (issue 19): the same as a batch of one.

A backlog published before the service starts comes in a few big batches. Each batch's
transaction is counted (``shared.db_statements``: the parts that touch ``projection_positions``);
every row the reactions write (follow-up's tasks, new complaints' rows and deadlines; feedback's
complainants, survey facts, dispatch rows and windows) is a JSON-rows part of the batch's one
append statement (``shared.reactions.json_rows``), not an ``executemany`` of one execution per
event ahead of it. Budgets per batch, whatever its size:

* follow-up, new complaints: BEGIN, the progress rows' insert and lock, the tasks' load, the one
  statement, COMMIT: 6 (9 when the complaints', tasks' and deadlines' rows were three
  ``executemany`` of one execution per event);
* feedback, new complaints: BEGIN, insert, lock, the one statement (complainants and progress),
  COMMIT: 5 (6);
* feedback, served visits: BEGIN, insert, lock, the channel preferences, the surveys' load, the one
  statement, COMMIT: 7 (10).
"""

from __future__ import annotations

from typing import Any

import pytest

from services.feedback.config import FeedbackConfig
from shared import db_statements
from tests.integration.test_reaction_drain import _complaints, _publish, _visits
from tests.support.harness import Running, running
from tests.support.round_trips import INTROSPECTION
from tests.support.services import wait_until

pytestmark = pytest.mark.integration

EVENTS = 200
#: statements that, on their own, would be one execution per event
ROW_WRITES = (
    "INSERT INTO tasks",
    "INSERT INTO complaints",
    "INSERT INTO deadlines",
    "INSERT INTO complaint_customers",
)
ROW_WRITES += ("INSERT INTO survey_facts", "INSERT INTO survey_dispatch")


async def _batches(svc: Running, table: str, expected: int) -> list[list[str]]:
    """The consumer transactions that brought ``table`` to ``expected`` rows."""
    with db_statements.counting() as tally:

        async def done() -> bool | None:
            rows = await svc.fetch(f"SELECT count(*) AS n FROM {table}")
            return True if rows[0]["n"] >= expected else None

        await wait_until(done, 120, message=f"{expected} rows in {table}")
        await tally.settled(0.3)
    parts = [
        [s for s in p if not any(m in s for m in INTROSPECTION)]  # asyncpg's, on a type's first use
        for p in tally.parts()
        if any("projection_positions" in s for s in p)
    ]
    for part in parts:
        print(f"\n{table}: a batch in {len(part)} statements", *part, sep="\n  ")
    return parts


def _check(parts: list[list[str]], budget: int) -> None:
    assert parts
    assert len(parts) < EVENTS / 4, len(parts)  # the backlog came in batches, not one by one
    for part in parts:
        assert len(part) <= budget, part
        assert not any(s.startswith(ROW_WRITES) for s in part), part  # all in the one statement


async def test_a_batch_of_new_complaints_costs_follow_up_the_statements_of_one(
    database_url: str, private_broker: Any
) -> None:
    bootstrap = private_broker.bootstrap_servers
    await _publish(bootstrap, "complaint.events.v1", _complaints(EVENTS))
    async with running("followup", database_url, bootstrap) as svc:
        parts = await _batches(svc, "tasks", EVENTS)
        rows = await svc.fetch(
            "SELECT count(*) AS n, count(DISTINCT complaint_id) AS c FROM tasks"
            " WHERE kind = 'progress_update'"
        )
        known = await svc.fetch("SELECT count(*) AS n FROM complaints WHERE status = 'open'")
        deadlines = await svc.fetch("SELECT count(*) AS n FROM deadlines WHERE state = 'running'")
    assert rows[0]["n"] == rows[0]["c"] == EVENTS
    assert known[0]["n"] == deadlines[0]["n"] == EVENTS
    _check(parts, 6)


async def test_a_batch_of_new_complaints_costs_feedback_the_statements_of_one(
    database_url: str, private_broker: Any
) -> None:
    bootstrap = private_broker.bootstrap_servers
    await _publish(bootstrap, "complaint.events.v1", _complaints(EVENTS))
    quiet = FeedbackConfig(dispatch_period=3600)  # its rounds' statements would never let the count settle
    async with running("feedback", database_url, bootstrap, config=quiet) as svc:
        parts = await _batches(svc, "complaint_customers", EVENTS)
    _check(parts, 5)


async def test_a_batch_of_served_visits_costs_feedback_the_statements_of_one(
    database_url: str, private_broker: Any
) -> None:
    bootstrap = private_broker.bootstrap_servers
    await _publish(bootstrap, "reception.events.v1", _visits(EVENTS))
    quiet = FeedbackConfig(dispatch_period=3600)  # no sends while the batches are counted
    async with running("feedback", database_url, bootstrap, config=quiet) as svc:
        parts = await _batches(svc, "survey_facts", EVENTS)
        dispatch = await svc.fetch("SELECT count(*) AS n FROM survey_dispatch")
        windows = await svc.fetch("SELECT count(*) AS n FROM deadlines WHERE state = 'running'")
    assert dispatch[0]["n"] == windows[0]["n"] == EVENTS
    _check(parts, 7)
