"""Reactions decided per consumer batch (``shared.reactions``) keep exactly-once: a backlog with
many events for several streams and one poison event applies every good event once and
dead-letters the poison with its reason; the same batch delivered again applies nothing twice.

The poison is real PostgreSQL refusing a row (a trigger on the read-model table the reaction
writes, for one customer), so it fails where a batched reaction fails: in the batch's one
statement. The runner then applies the batch again event by event in savepoints
(``ReactionBatch.isolated``), which isolates it. Every event goes to one branch, hence one
partition, so the consumer finds them as one backlog (one batch, up to its 500 records).
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import asyncpg
import pytest

from services.feedback.config import FeedbackConfig
from shared.contracts.complaint import ComplaintClosed
from shared.envelope import Envelope, to_json
from tests.integration.followup.steps import T0, list_tasks, wait_tasks
from tests.integration.followup.test_followup_service import COMPLAINTS, RECEPTION, received, served
from tests.support.events import Stream
from tests.support.harness import running
from tests.support.kafka import publish, read_topic
from tests.support.services import wait_until
from tests.support.texts import ref

pytestmark = pytest.mark.integration

POISON = "cust_poison"


async def _refuse(database_url: str, table: str) -> None:
    """The read-model table refuses the poison customer's row (as a broken row would)."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            f"""CREATE FUNCTION {table}_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                  IF NEW.customer_ref = '{POISON}' THEN RAISE EXCEPTION 'poison row refused'; END IF;
                  RETURN NEW;
                END $$;
                CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON {table}
                FOR EACH ROW EXECUTE FUNCTION {table}_refuse();"""
        )
    finally:
        await conn.close()


def _complaint(b: str, customer_ref: str, *, close: bool) -> list[Envelope]:
    complaint_id = uuid4()
    case = Stream(f"complaint-{complaint_id}", b, at=T0)
    data = received(complaint_id).model_copy(update={"customer_ref": customer_ref})
    events = [case.next(data)]
    if close:
        events.append(
            case.next(ComplaintClosed(complaint_id=complaint_id, at=data.received_at, result=ref("ok")))
        )
    return events


async def _dead(bootstrap: str, topic: str) -> list[Any]:
    return await read_topic(bootstrap, f"{topic}.dlq", until=lambda rs: len(rs) >= 1)


async def test_followup_batch_with_a_poison_applies_the_rest_once(
    database_url: str, private_broker: Any
) -> None:
    bootstrap = private_broker.bootstrap_servers
    b = "fu-batch"
    async with running("followup", database_url, bootstrap):
        pass  # its schema exists now
    await _refuse(database_url, "followup.tasks")
    good = [_complaint(b, f"cust_ref_{n:04d}", close=n % 2 == 0) for n in range(12)]
    poison = _complaint(b, POISON, close=False)
    events = [e for case in good[:6] for e in case] + poison + [e for case in good[6:] for e in case]
    await publish(bootstrap, COMPLAINTS, *events)

    async with running("followup", database_url, bootstrap) as svc:
        await wait_tasks(svc, b, 6)  # the six left open
        [dead] = await _dead(bootstrap, COMPLAINTS)
        cancelled = await list_tasks(svc, b, "cancelled")
        scheduled = await svc.fetch(
            "SELECT count(*) AS n, count(DISTINCT stream_id) AS s FROM events"
            " WHERE type = 'FollowUpScheduled'"
        )

        # the same batch again, then a sentinel behind it in the same partition
        sentinel = _complaint(b, "cust_ref_9999", close=False)
        await publish(bootstrap, COMPLAINTS, *events, *sentinel)
        await wait_tasks(svc, b, 7)
        again = await svc.fetch("SELECT type, count(*) AS n FROM events GROUP BY type ORDER BY type")
        dead_after = await read_topic(bootstrap, f"{COMPLAINTS}.dlq", until=lambda rs: len(rs) >= 1)

    assert len(cancelled) == 6, "each closed complaint's progress update was cancelled, once"
    assert (scheduled[0]["n"], scheduled[0]["s"]) == (12, 12), "one task per good complaint, none twice"
    assert dead.value == to_json(poison[0])
    reason = dict(dead.headers)["x-dlq-reason"].decode()
    assert "projection task_rules failed 3 times" in reason and "poison row refused" in reason
    assert {r["type"]: r["n"] for r in again} == {"FollowUpScheduled": 13, "FollowUpCancelled": 6}
    assert len(dead_after) == 1, "the redelivered poison is a duplicate, not a second dead letter"


async def test_feedback_batch_with_a_poison_applies_the_rest_once(
    database_url: str, private_broker: Any
) -> None:
    bootstrap = private_broker.bootstrap_servers
    b = "fb-batch"
    quiet = FeedbackConfig(dispatch_period=3600)
    async with running("feedback", database_url, bootstrap, config=quiet):
        pass
    await _refuse(database_url, "feedback.survey_facts")
    visits = []
    for n in range(10):
        visit_id = uuid4()
        stream = Stream(f"visit-{visit_id}", b, at=T0)
        visits.append(stream.next(served(visit_id, customer_ref=f"cust_ref_{n:04d}")))
        if n == 3:  # served twice: two requests for one survey, decided one after the other
            visits.append(stream.next(served(visit_id, customer_ref=f"cust_ref_{n:04d}")))
    poison_id = uuid4()
    poison = Stream(f"visit-{poison_id}", b, at=T0).next(served(poison_id, customer_ref=POISON))
    cases = [e for n in range(3) for e in _complaint(b, f"cust_ref_c{n}", close=True)]
    await publish(bootstrap, RECEPTION, *visits[:5], poison, *visits[5:])
    await publish(bootstrap, COMPLAINTS, *cases)

    async with running("feedback", database_url, bootstrap, config=quiet) as svc:

        async def surveys() -> int:
            return int((await svc.fetch("SELECT count(*) AS n FROM survey_facts"))[0]["n"])

        await wait_until(lambda: _at_least(surveys, 13), 30, message="13 surveys")
        [dead] = await _dead(bootstrap, RECEPTION)
        await publish(bootstrap, RECEPTION, *visits, poison)
        await publish(bootstrap, COMPLAINTS, *cases)
        sentinel_id = uuid4()
        await publish(
            bootstrap, RECEPTION, Stream(f"visit-{sentinel_id}", b, at=T0).next(served(sentinel_id))
        )
        await wait_until(lambda: _at_least(surveys, 14), 30, message="the sentinel's survey")
        requested = await svc.fetch(
            "SELECT count(*) AS n, count(DISTINCT stream_id) AS s FROM events WHERE type = 'SurveyRequested'"
        )
        subjects = await svc.fetch(
            "SELECT subject_type, count(*) AS n FROM survey_facts GROUP BY 1 ORDER BY 1"
        )
        dead_after = await read_topic(bootstrap, f"{RECEPTION}.dlq", until=lambda rs: len(rs) >= 1)

    assert (requested[0]["n"], requested[0]["s"]) == (14, 14), "one survey per visit and case, none twice"
    assert {r["subject_type"]: r["n"] for r in subjects} == {"complaint": 3, "visit": 11}
    assert dead.value == to_json(poison)
    assert "poison row refused" in dict(dead.headers)["x-dlq-reason"].decode()
    assert len(dead_after) == 1


async def _at_least(count: Any, n: int) -> bool:
    return bool(await count() >= n)
