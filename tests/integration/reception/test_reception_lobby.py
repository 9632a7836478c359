"""A morning in the lobby: the live board, counters, estimated waits, call-next and the day's stats."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY

from tests.integration.reception.steps import arrive, lobby, queued
from tests.support.harness import RunService

pytestmark = pytest.mark.integration


def branch() -> str:
    return f"b-{uuid.uuid4().hex[:8]}"


def line(board: dict, name: str) -> dict:  # type: ignore[type-arg]
    return next(entry for entry in board["lines"] if entry["line"] == name)


async def test_the_lobby_board_through_a_morning(run_service: RunService) -> None:
    b = branch()
    async with run_service("reception") as svc:
        first = (await arrive(svc, b, service_type="deposit_demand"))["visit_id"]
        svc.clock.advance(timedelta(minutes=1))
        second = (await arrive(svc, b, service_type="withdrawal"))["visit_id"]
        svc.clock.advance(timedelta(minutes=1))
        elderly = (await arrive(svc, b, service_type="deposit_demand", priority="elderly"))["visit_id"]
        card = (await arrive(svc, b, service_type="card_service", accessibility=["vision"]))["visit_id"]
        svc.clock.advance(timedelta(minutes=3))

        board = await lobby(svc, b)
        deposits = [w for w in board["waiting"] if w["line"] == "deposits"]
        assert [w["visit_id"] for w in deposits] == [elderly, first, second]  # priority first
        assert [w["waited_seconds"] for w in deposits] == [180, 300, 240]
        assert [w["ticket"] for w in deposits] == ["A003", "A001", "A002"]
        assert line(board, "deposits")["waiting"] == 3 and board["counters"] == []
        # no counter open yet: no estimate (a closed counter never counts as free)
        assert line(board, "deposits")["estimated_wait_seconds"] is None
        assert line(board, "deposits")["open_counters"] == 0
        opened = await svc.post(f"/branches/{b}/counters/9/open", {"staff_id": "t-9"})
        assert opened.status_code == 200, opened.text
        board = await lobby(svc, b)
        # nobody served yet: the line's default service time (5 min), the one open counter
        assert line(board, "deposits")["estimated_wait_seconds"] == 3 * 300
        assert line(board, "accounts")["estimated_wait_seconds"] == 600
        assert (await svc.post(f"/branches/{b}/counters/9/close")).status_code == 200
        assert next(w for w in board["waiting"] if w["visit_id"] == card)["accessibility"] == ["vision"]

        called = await svc.post(
            f"/branches/{b}/lines/deposits/call-next", {"counter_id": "1", "staff_id": "t-1"}
        )
        assert called.json()["visit_id"] == elderly
        called = await svc.post(
            f"/branches/{b}/lines/deposits/call-next", {"counter_id": "2", "staff_id": "t-2"}
        )
        assert called.json()["visit_id"] == first
        busy = await svc.post(f"/visits/{second}/call", {"counter_id": "2"})
        assert busy.status_code == 409 and "counter 2 is busy with ticket A001" in busy.json()["detail"]

        svc.clock.advance(timedelta(minutes=4))
        await svc.ok(elderly, "serve", {"outcome": "cash deposited"})
        board = await lobby(svc, b)
        counters = {c["counter_id"]: c for c in board["counters"]}
        assert counters["1"]["status"] == "free" and counters["2"]["status"] == "busy"
        assert counters["2"]["ticket"] == "A001" and counters["2"]["staff_id"] == "t-2"
        deposits_line = line(board, "deposits")
        assert deposits_line["waiting"] == 1 and deposits_line["called"] == 1
        assert deposits_line["mean_service_seconds"] == 240 and deposits_line["counters_serving"] == 2
        # one waiting, counter 2 busy, counter 1 free: 1 ahead shared by 2 counters of 4 min
        assert deposits_line["estimated_wait_seconds"] == 120
        assert [w["status"] for w in board["waiting"] if w["line"] == "deposits"] == ["called", "queued"]

        await svc.ok(elderly, "leave")
        await svc.app.refresh_gauges()
        assert REGISTRY.get_sample_value("branchcare_reception_queue_length", {"line": "deposits"}) == 1
        assert REGISTRY.get_sample_value("branchcare_reception_queue_length", {"line": "accounts"}) == 1
        metrics = (await svc.http.get("/metrics")).text
        assert 'branchcare_reception_wait_seconds_bucket{le="300.0",line="deposits"}' in metrics


async def test_counters_calling_next_at_once_get_different_customers(
    run_service: RunService,
) -> None:
    b = branch()
    async with run_service("reception") as svc:
        waiting = {(await arrive(svc, b, service_type="transfer"))["visit_id"] for _ in range(6)}
        responses = await asyncio.gather(
            *(
                svc.post(f"/branches/{b}/lines/deposits/call-next", {"counter_id": str(c)})
                for c in range(1, 6)
            )
        )
        assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
        called = [r.json()["visit_id"] for r in responses]
        assert len(set(called)) == 5 and set(called) <= waiting
        board = await lobby(svc, b)
        assert sorted(c["counter_id"] for c in board["counters"] if c["status"] == "busy") == [
            "1",
            "2",
            "3",
            "4",
            "5",
        ]
        assert line(board, "deposits")["waiting"] == 1


async def test_the_days_statistics(run_service: RunService) -> None:
    b = branch()
    async with run_service("reception") as svc:
        quick, _ = await queued(svc, b, "deposit_demand")  # waits 10 min
        slow, _ = await queued(svc, b, "deposit_demand")  # waits 20 min
        gone, _ = await queued(svc, b, "withdrawal")  # abandons after 5 min
        absent, _ = await queued(svc, b, "card_service")  # called 3x, no-show
        later = (await arrive(svc, b))["visit_id"]  # documents incomplete first
        await svc.ok(later, "greet")
        await svc.ok(later, "confirm-need", {"service_type": "account_opening"})
        await svc.ok(later, "guide")
        await svc.ok(later, "check-documents", {"missing": ["mobile_phone"]})
        complainer = (await arrive(svc, b))["visit_id"]
        await svc.ok(complainer, "greet")
        await svc.ok(complainer, "confirm-need", {"service_type": "complaint", "notes": "card fee"})

        svc.clock.advance(timedelta(minutes=5))
        await svc.ok(gone, "leave")
        await svc.ok(later, "check-documents", {"missing": []})
        svc.clock.advance(timedelta(minutes=5))
        await svc.ok(quick, "call", {"counter_id": "1"})
        await svc.ok(absent, "call", {"counter_id": "3"})
        await svc.ok(absent, "call", {"counter_id": "3"})
        await svc.ok(absent, "call", {"counter_id": "3"})
        await svc.ok(absent, "no-show")
        svc.clock.advance(timedelta(minutes=5))
        await svc.ok(quick, "serve", {"outcome": "done"})
        svc.clock.advance(timedelta(minutes=5))
        await svc.ok(slow, "call", {"counter_id": "1"})
        svc.clock.advance(timedelta(minutes=3))
        await svc.ok(slow, "serve", {"outcome": "done"})
        await svc.ok(complainer, "leave")

        stats = (await svc.get(f"/branches/{b}/visits/stats", date="2026-03-02")).json()
        assert stats["visits"] == 6 and stats["served"] == 2 and stats["complaints_raised"] == 1
        by_type = {r["service_type"]: r for r in stats["by_service_type"]}
        assert (
            by_type["deposit_demand"]["visits"] == 2
            and by_type["deposit_demand"]["average_wait_seconds"] == 900
        )
        assert {k: v["visits"] for k, v in by_type.items()} == {
            "deposit_demand": 2, "withdrawal": 1, "card_service": 1, "account_opening": 1, "complaint": 1,
        }  # fmt: skip
        # waits to the first call: 10, 20 and the no-show's 10 minutes
        wait = stats["wait"]
        assert wait["called"] == 3 and wait["average_seconds"] == round((600 + 1200 + 600) / 3)
        assert wait["p90_seconds"] == 1080 and wait["max_seconds"] == 1200
        assert stats["abandonment"] == {"queued": 4, "abandoned": 1, "no_shows": 1, "rate": 0.25}
        # documents checked: four queued visits (complete first time) and the one that was not
        assert stats["first_visit_completion"] == {
            "documents_checked": 5,
            "complete_first_time": 4,
            "rate": 0.8,
        }
        assert stats["left_before_queue"] == 1 and stats["still_in_branch"] == 3

        other_day = (await svc.get(f"/branches/{b}/visits/stats", date="2026-03-03")).json()
        assert other_day["visits"] == 0 and other_day["wait"]["average_seconds"] is None
