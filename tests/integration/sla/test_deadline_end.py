"""A deadline ended in SQL, unread (``Deadlines.meet`` outside a command's cache, ``end_later``),
is the deadline the cached path ends in memory: same state, end, pauses, no milestone left."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg
import pytest

from shared import db_batch
from shared.clock import FixedClock
from shared.sla.deadlines import Deadline, Deadlines
from shared.sla.policy import PolicyBook
from shared.sla.subject import Subject

START = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
SLA = "complaint.acknowledge"
NIL = UUID(int=0)


async def started(conn: asyncpg.Connection, deadlines: Deadlines, subject: str, paused: bool) -> None:
    about = Subject("complaint", subject, f"complaint-{subject}", "b1")
    await deadlines.start(conn, subject=about, sla=SLA, started_at=START)
    if paused:
        await deadlines.pause(conn, subject, START + timedelta(minutes=3))


def comparable(d: Deadline | None) -> Deadline:
    assert d is not None
    return replace(d, subject_id="-", stream_id="-", deadline_id=NIL)


@pytest.mark.parametrize("paused", [False, True])
@pytest.mark.parametrize("state", ["met", "cancelled"])
async def test_ended_in_sql_as_in_memory(pool: asyncpg.Pool, paused: bool, state: str) -> None:
    deadlines = Deadlines("test", FixedClock(START), PolicyBook.load())
    at = START + timedelta(minutes=7, microseconds=123)
    tag = f"{state}-{paused}"
    async with pool.acquire() as conn, conn.transaction():
        for way in ("memory", "sql", "later"):
            await started(conn, deadlines, f"{way}-{tag}", paused)
        cache = await deadlines.cached(conn, f"memory-{tag}")
        in_memory = await cache._end(conn, f"memory-{tag}", SLA, at, state)
        await cache.write(conn)
        in_sql = await deadlines._end(conn, f"sql-{tag}", SLA, at, state)
        with db_batch.opened(conn):
            await deadlines.end_later(conn, f"later-{tag}", SLA, at, state, breached=False)
            await db_batch.flush(conn)
        stored = {way: await deadlines.get(conn, f"{way}-{tag}", SLA) for way in ("memory", "sql", "later")}
        # ending twice changes nothing: it is no longer open
        assert await deadlines._end(conn, f"sql-{tag}", SLA, at + timedelta(hours=1), state) is None
    assert comparable(in_sql) == comparable(in_memory) == comparable(stored["memory"])
    assert comparable(stored["sql"]) == comparable(stored["later"]) == comparable(in_memory)
    ended = stored["later"]
    assert ended is not None and ended.state == state and ended.ended_at == at
    assert ended.next_fire_at is None and ended.next_fire_kind is None
    assert ended.pauses == (((START + timedelta(minutes=3), at),) if paused else ())
