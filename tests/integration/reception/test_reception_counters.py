"""Counters open, pause with a reason, resume and close; call-next and the wait estimate use only
open counters; the board shows each counter's state; the gauge counts open counters per line
(real PostgreSQL, real broker)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY

from tests.integration.reception.steps import arrive, lobby, queued
from tests.support.auth import bearer
from tests.support.harness import RunService

pytestmark = pytest.mark.integration


def branch() -> str:
    return f"b-{uuid.uuid4().hex[:8]}"


def line(board: dict, name: str) -> dict:  # type: ignore[type-arg]
    return next(entry for entry in board["lines"] if entry["line"] == name)


def counters(board: dict) -> dict:  # type: ignore[type-arg]
    return {c["counter_id"]: c for c in board["counters"]}


async def test_a_counter_closed_for_lunch_is_not_counted_as_free(run_service: RunService) -> None:
    b = branch()
    async with run_service("reception") as svc:
        for counter, body in (("1", {"lines": ["deposits"]}), ("2", {})):
            opened = await svc.post(
                f"/branches/{b}/counters/{counter}/open", {"staff_id": f"t-{counter}"} | body
            )
            assert opened.status_code == 200, opened.text
            assert opened.json()["status"] == "open"
        for _ in range(4):
            await arrive(svc, b, service_type="deposit_demand")
        board = await lobby(svc, b)
        assert line(board, "deposits")["open_counters"] == 2 and line(board, "accounts")["open_counters"] == 1
        assert line(board, "deposits")["estimated_wait_seconds"] == round((4 - 2 + 1) / 2 * 300)

        paused = await svc.post(f"/branches/{b}/counters/2/pause", {"reason": "lunch"})
        assert paused.status_code == 200 and paused.json()["pause_reason"] == "lunch"
        board = await lobby(svc, b)
        assert counters(board)["2"]["status"] == "paused" and counters(board)["2"]["pause_reason"] == "lunch"
        assert line(board, "deposits")["open_counters"] == 1
        assert line(board, "deposits")["estimated_wait_seconds"] == (4 - 1 + 1) * 300  # one counter left
        assert line(board, "accounts")["estimated_wait_seconds"] is None  # nobody serves it now

        refused = await svc.post(f"/branches/{b}/lines/deposits/call-next", {"counter_id": "2"})
        assert refused.status_code == 409 and "paused (lunch): resume it" in refused.json()["detail"]
        assert (await svc.post(f"/branches/{b}/counters/2/pause", {"reason": "break"})).status_code == 409
        svc.clock.advance(timedelta(minutes=40))
        resumed = await svc.post(f"/branches/{b}/counters/2/resume")
        assert resumed.status_code == 200 and resumed.json()["status"] == "open"
        called = await svc.post(f"/branches/{b}/lines/deposits/call-next", {"counter_id": "2"})
        assert called.status_code == 200, called.text
        ticket = called.json()["ticket"]

        # a customer at the counter: it can neither pause nor close until they are served or gone
        for action, body in (("pause", {"reason": "break"}), ("close", None)):
            busy = await svc.post(f"/branches/{b}/counters/2/{action}", body)
            assert busy.status_code == 409 and f"busy with ticket {ticket}" in busy.json()["detail"]
        await svc.ok(called.json()["visit_id"], "serve", {"outcome": "done"})
        closed = await svc.post(f"/branches/{b}/counters/2/close")
        assert closed.status_code == 200 and closed.json()["status"] == "closed"
        assert counters(await lobby(svc, b))["2"]["status"] == "closed"
        assert (await svc.post(f"/branches/{b}/counters/2/close")).status_code == 409
        assert (await svc.post(f"/branches/{b}/counters/1/open")).status_code == 409  # already open

        await svc.app.refresh_gauges()
        assert REGISTRY.get_sample_value("branchcare_reception_open_counters", {"line": "deposits"}) >= 1

        # nobody closed counter 1: the next morning it is not counted until it opens again
        svc.clock.advance(timedelta(days=1))
        await arrive(svc, b, service_type="deposit_demand")
        board = await lobby(svc, b)
        assert line(board, "deposits")["open_counters"] == 0 and "1" not in counters(board)
        reopened = await svc.post(f"/branches/{b}/counters/1/open", {"lines": ["deposits"]})
        assert reopened.status_code == 200, reopened.text
        assert line(await lobby(svc, b), "deposits")["open_counters"] == 1

        published = await svc.published(f"counter:{b}:2", 4)
        assert [e.type for e in published] == [
            "CounterOpened",
            "CounterPaused",
            "CounterResumed",
            "CounterClosed",
        ]
        assert published[2].data["paused_seconds"] == 40 * 60
        assert all(e.schema_version == 1 and e.branch_id == b for e in published)


async def test_a_counter_nobody_opened_opens_with_its_first_call(run_service: RunService) -> None:
    """Compatibility: terminals and scripts that never open a counter keep working."""
    b = branch()
    async with run_service("reception") as svc:
        visit, _ = await queued(svc, b)
        before = await svc.get(f"/branches/{b}/counters/5")
        assert before.status_code == 200 and before.json()["status"] == "closed"
        await svc.ok(visit, "call", {"counter_id": "5"})
        after = (await svc.get(f"/branches/{b}/counters/5")).json()
        assert after["status"] == "open" and after["version"] == 1
        opened = (await svc.app.counters.load(b, "5")).history[0]
        assert opened.type == "CounterOpened" and opened.data["implicit"] is True
        assert opened.actor == "lm-007"
        await svc.ok(visit, "call", {"counter_id": "5"})  # a second call changes nothing
        assert (await svc.get(f"/branches/{b}/counters/5")).json()["version"] == 1


async def test_bad_counter_input_is_422_and_other_branches_403(run_service: RunService) -> None:
    b = branch()
    async with run_service("reception") as svc:
        for path, body in (
            ("/counters/1/open", {"lines": ["mortgages"]}),  # no such line
            ("/counters/1/open", {"lines": ["Deposits!"]}),
            ("/counters/1/open", {"till": 3}),  # unknown field
            ("/counters/1/pause", {"reason": "napping"}),
            ("/counters/1/pause", {}),
            ("/counters/x!/open", {}),
            ("/counters/" + "9" * 33 + "/open", {}),
        ):
            response = await svc.post(f"/branches/{b}{path}", body)
            assert response.status_code == 422, (path, response.text)
        assert (await svc.get(f"/branches/{b}/counters/1")).json()["version"] == 0
        other = bearer("teller-x", ["b-elsewhere"], ["counter_staff"])
        denied = await svc.http.post(f"/branches/{b}/counters/1/open", json={}, headers=other)
        assert denied.status_code == 403
        hq = bearer("hq-1", ["*"], ["hq_analyst"])
        assert (await svc.http.post(f"/branches/{b}/counters/1/open", json={}, headers=hq)).status_code == 403
