"""The deadline scheduler against real PostgreSQL: exactly once, downtime, pause/resume."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from shared.clock import FixedClock
from shared.sla.deadlines import Deadline, Deadlines
from shared.sla.policy import PolicyBook
from shared.sla.scheduler import DeadlineScheduler, Kind
from shared.sla.subject import Subject

START = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)


class Recorder:
    """An on_fire callback that records what fired, in a table of the same transaction."""

    def __init__(self) -> None:
        self.fired: list[tuple[str, str, datetime]] = []

    async def __call__(self, conn: asyncpg.Connection, deadline: Deadline, kind: Kind, at: datetime) -> None:
        await conn.execute("CREATE TABLE IF NOT EXISTS fired_log (subject text, kind text, at timestamptz)")
        await conn.execute("INSERT INTO fired_log VALUES ($1, $2, $3)", deadline.subject_id, kind, at)
        self.fired.append((deadline.subject_id, kind, at))


async def start(
    pool: asyncpg.Pool, deadlines: Deadlines, subject: str, sla: str = "complaint.acknowledge"
) -> Deadline:
    async with pool.acquire() as conn, conn.transaction():
        about = Subject("complaint", subject, f"complaint-{subject}", "b1")
        return await deadlines.start(conn, subject=about, sla=sla, started_at=START)


async def test_at_risk_then_breach_fire_once_each_even_with_two_schedulers(pool: asyncpg.Pool) -> None:
    clock = FixedClock(START)
    deadlines = Deadlines("test", clock, PolicyBook.load())
    for i in range(50):
        await start(pool, deadlines, f"c{i}")
    recorder = Recorder()
    one = DeadlineScheduler(deadlines, pool, recorder)
    two = DeadlineScheduler(deadlines, pool, recorder)

    clock.set(START + timedelta(minutes=23))  # 80 % of 30 min is 24 min
    assert await one.tick() + await two.tick() == 0
    clock.set(START + timedelta(minutes=24))
    counts = await asyncio.gather(one.tick(), two.tick(), one.tick(), two.tick())
    assert sum(counts) == 50
    clock.set(START + timedelta(minutes=31))
    counts = await asyncio.gather(one.tick(), two.tick(), one.tick(), two.tick())
    assert sum(counts) == 50
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT subject, kind, count(*) AS n FROM fired_log GROUP BY 1, 2")
    assert len(rows) == 100 and all(r["n"] == 1 for r in rows)
    breach_times = {at for _, kind, at in recorder.fired if kind == "breached"}
    assert breach_times == {START + timedelta(minutes=30)}


async def test_missed_during_downtime_fires_at_first_tick(pool: asyncpg.Pool) -> None:
    clock = FixedClock(START)
    deadlines = Deadlines("test", clock, PolicyBook.load())
    await start(pool, deadlines, "down")
    clock.set(START + timedelta(hours=5))  # the service was down through both milestones
    recorder = Recorder()
    assert await DeadlineScheduler(deadlines, pool, recorder).tick() == 2
    assert [k for _, k, _ in recorder.fired] == ["at_risk", "breached"]


async def test_met_deadline_never_fires(pool: asyncpg.Pool) -> None:
    clock = FixedClock(START)
    deadlines = Deadlines("test", clock, PolicyBook.load())
    await start(pool, deadlines, "met")
    async with pool.acquire() as conn:
        ended = await deadlines.meet(conn, "met", "complaint.acknowledge", START + timedelta(minutes=5))
    assert ended is not None and ended.status() == "met"
    clock.set(START + timedelta(days=1))
    assert await DeadlineScheduler(deadlines, pool, Recorder()).tick() == 0


async def test_pause_and_resume_move_the_deadline(pool: asyncpg.Pool) -> None:
    clock = FixedClock(START)
    deadlines = Deadlines("test", clock, PolicyBook.load())
    await start(pool, deadlines, "held", sla="complaint.regulatory")
    async with pool.acquire() as conn:
        await deadlines.pause(conn, "held", START + timedelta(days=2))
        paused = await deadlines.get(conn, "held", "complaint.regulatory")
        assert paused is not None and paused.status() == "paused" and paused.next_fire_at is None
        clock.set(START + timedelta(days=20))
        assert await DeadlineScheduler(deadlines, pool, Recorder()).tick() == 0
        (resumed,) = await deadlines.resume(conn, "held", START + timedelta(days=5))
    assert resumed.due_at == START + timedelta(days=18)


async def test_extension_rearms_future_warnings(pool: asyncpg.Pool) -> None:
    clock = FixedClock(START)
    deadlines = Deadlines("test", clock, PolicyBook.load())
    await start(pool, deadlines, "ext", sla="complaint.regulatory")
    recorder = Recorder()
    scheduler = DeadlineScheduler(deadlines, pool, recorder)
    clock.set(START + timedelta(days=10, hours=1))
    assert await scheduler.tick() == 1  # day 10 of 15
    async with pool.acquire() as conn:
        extended = await deadlines.change_duration(conn, "ext", "complaint.regulatory", timedelta(days=30))
    assert extended is not None
    assert extended.due_at == START + timedelta(days=30)
    assert extended.fired == ()  # day 10 of 30 has not come yet: every warning re-arms
    clock.set(START + timedelta(days=31))
    assert await scheduler.tick() == 3


@pytest.mark.parametrize("restart", [False, True])
async def test_start_is_idempotent_unless_restarted(pool: asyncpg.Pool, restart: bool) -> None:
    clock = FixedClock(START)
    deadlines = Deadlines("test", clock, PolicyBook.load())
    first = await start(pool, deadlines, f"idem{restart}")
    async with pool.acquire() as conn:
        again = await deadlines.start(
            conn,
            subject=Subject("complaint", f"idem{restart}", "x", "b1"),
            sla="complaint.acknowledge",
            started_at=START + timedelta(hours=1),
            restart=restart,
        )
    assert (again.deadline_id == first.deadline_id) is (not restart)
