"""call-next locks nothing between its pick and its one statement (``services/reception/
call_next.py``): what another writer does in between must refuse that statement whole, and the
next attempt decides afresh. Each test makes the other writer act exactly there (after the pick's
statement, before the call's), on the real database: the same visit is never called twice, a
counter never calls two customers nor calls once paused, and a counter is never opened twice.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from services.reception import locks
from tests.integration.reception.steps import queued
from tests.support.harness import Running, RunService

pytestmark = pytest.mark.integration


def branch() -> str:
    return f"b-{uuid.uuid4().hex[:8]}"


def meanwhile(monkeypatch: pytest.MonkeyPatch, act: Callable[[str], Awaitable[None]]) -> list[str]:
    """Run ``act(picked stream)`` once, right after call-next's first pick; returns the streams
    picked, in order."""
    pick = locks.pick_for_call
    picked: list[str] = []

    async def pick_then_act(*args: Any, **kwargs: Any) -> Any:
        found = await pick(*args, **kwargs)
        if found is not None:
            picked.append(found[0])
            if len(picked) == 1:
                await act(found[0])
        return found

    monkeypatch.setattr(locks, "pick_for_call", pick_then_act)
    return picked


async def visit(svc: Running, visit_id: str) -> dict[str, Any]:
    response = await svc.get(f"/visits/{visit_id}")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def counter(svc: Running, b: str, c: str) -> dict[str, Any]:
    response = await svc.get(f"/branches/{b}/counters/{c}")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_a_visit_called_elsewhere_after_the_pick_is_not_called_again(
    run_service: RunService, monkeypatch: pytest.MonkeyPatch
) -> None:
    b = branch()
    async with run_service("reception") as svc:
        first, _ = await queued(svc, b)
        second, _ = await queued(svc, b)

        async def other_counter_calls(stream: str) -> None:
            await svc.ok(locks.subject_of(stream), "call", {"counter_id": "other"})

        picked = meanwhile(monkeypatch, other_counter_calls)
        called = await svc.post(f"/branches/{b}/lines/deposits/call-next", {"counter_id": "c1"})
        assert called.status_code == 200, called.text
        assert picked == [f"visit-{first}", f"visit-{second}"]
        assert called.json()["visit_id"] == second and called.json()["counter_id"] == "c1"
        again = await visit(svc, first)
        assert again["calls"] == 1 and again["counter_id"] == "other"
        assert [e.type for e in (await svc.app.load_visit(uuid.UUID(first))).history].count(
            "VisitCalled"
        ) == 1


async def test_a_counter_paused_after_the_pick_calls_nobody(
    run_service: RunService, monkeypatch: pytest.MonkeyPatch
) -> None:
    b = branch()
    async with run_service("reception") as svc:
        opened = await svc.post(f"/branches/{b}/counters/c1/open", {})
        assert opened.status_code == 200, opened.text
        waiting, _ = await queued(svc, b)

        async def paused(_: str) -> None:
            done = await svc.post(f"/branches/{b}/counters/c1/pause", {"reason": "lunch"})
            assert done.status_code == 200, done.text

        meanwhile(monkeypatch, paused)
        refused = await svc.post(f"/branches/{b}/lines/deposits/call-next", {"counter_id": "c1"})
        assert refused.status_code == 409 and "paused" in refused.json()["detail"], refused.text
        assert (await visit(svc, waiting))["status"] == "queued"
        state = await counter(svc, b, "c1")
        assert state["status"] == "paused", state
        row = (await svc.get(f"/branches/{b}/lobby")).json()["counters"]
        assert [c["status"] for c in row if c["counter_id"] == "c1"] == ["paused"], row


async def test_a_counter_given_a_customer_after_the_pick_is_busy(
    run_service: RunService, monkeypatch: pytest.MonkeyPatch
) -> None:
    b = branch()
    async with run_service("reception") as svc:
        opened = await svc.post(f"/branches/{b}/counters/c1/open", {})
        assert opened.status_code == 200, opened.text
        first, _ = await queued(svc, b)
        other, _ = await queued(svc, b, "card_service")  # another line

        async def someone_else_called(_: str) -> None:
            await svc.ok(other, "call", {"counter_id": "c1"})

        meanwhile(monkeypatch, someone_else_called)
        refused = await svc.post(f"/branches/{b}/lines/deposits/call-next", {"counter_id": "c1"})
        assert refused.status_code == 409 and "busy" in refused.json()["detail"], refused.text
        assert (await visit(svc, first))["status"] == "queued"
        async with svc.app.pool.acquire() as conn:
            at_counter = await conn.fetchval(
                "SELECT visit_id FROM counters WHERE branch_id = $1 AND counter_id = 'c1'", b
            )
        assert str(at_counter) == other


async def test_a_counter_opened_after_the_pick_is_opened_once(
    run_service: RunService, monkeypatch: pytest.MonkeyPatch
) -> None:
    b = branch()
    async with run_service("reception") as svc:
        waiting, _ = await queued(svc, b)

        async def opened(_: str) -> None:
            done = await svc.post(f"/branches/{b}/counters/c1/open", {"staff_id": "t-1"})
            assert done.status_code == 200, done.text

        picked = meanwhile(monkeypatch, opened)
        called = await svc.post(f"/branches/{b}/lines/deposits/call-next", {"counter_id": "c1"})
        assert called.status_code == 200, called.text
        # the first attempt (which would have opened the closed counter too) was refused whole
        assert picked == [f"visit-{waiting}", f"visit-{waiting}"]
        assert called.json()["visit_id"] == waiting
        history = (await svc.app.counters.load(b, "c1")).history
        assert [e.type for e in history] == ["CounterOpened"], history
        assert [e.type for e in (await svc.app.load_visit(uuid.UUID(waiting))).history].count(
            "VisitCalled"
        ) == 1
        assert (await counter(svc, b, "c1"))["status"] == "open"


async def test_a_wait_milestone_fired_after_the_pick_is_kept(
    run_service: RunService, monkeypatch: pytest.MonkeyPatch
) -> None:
    b = branch()
    async with run_service("reception") as svc:
        waiting, _ = await queued(svc, b)

        async def at_risk(_: str) -> None:
            await svc.advance(minutes=16)  # the SLA scheduler appends SlaAtRisk, fires the row

        picked = meanwhile(monkeypatch, at_risk)
        called = await svc.post(f"/branches/{b}/lines/deposits/call-next", {"counter_id": "c1"})
        assert called.status_code == 200, called.text
        assert picked == [f"visit-{waiting}", f"visit-{waiting}"]  # the first attempt refused whole
        types = await svc.stream_types(f"visit-{waiting}")
        assert [t for t in types if t in ("SlaAtRisk", "VisitCalled")] == ["SlaAtRisk", "VisitCalled"]
        async with svc.ctx.pool.acquire() as conn:
            deadline = await svc.app.deadlines.get(conn, waiting, "reception.wait")
        # met by the call, and the milestone fired before it is still on the row
        assert deadline is not None and deadline.state == "met", deadline
        assert [f.split(":")[0] for f in deadline.fired] == ["at_risk"], deadline.fired


async def test_one_counter_calling_next_many_times_at_once_gets_one_customer(run_service: RunService) -> None:
    b = branch()
    async with run_service("reception") as svc:
        opened = await svc.post(f"/branches/{b}/counters/c1/open", {})
        assert opened.status_code == 200, opened.text
        waiting = [(await queued(svc, b))[0] for _ in range(6)]
        answers = await asyncio.gather(
            *(svc.post(f"/branches/{b}/lines/deposits/call-next", {"counter_id": "c1"}) for _ in range(6))
        )
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [200] + [409] * 5, [a.text for a in answers]
        assert all("busy" in a.json()["detail"] for a in answers if a.status_code == 409)
        called = [v for v in waiting if (await visit(svc, v))["status"] == "called"]
        assert len(called) == 1
        board = (await svc.get(f"/branches/{b}/lobby")).json()
        assert board["lines"][0]["waiting"] == 5, board["lines"]
