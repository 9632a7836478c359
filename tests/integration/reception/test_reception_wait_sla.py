"""Wait and phone-answer SLAs on the shared clock: fire while the customer still waits (or the
phone still rings), stop when called (answered). FixedClock + tick(), never sleep."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from services.reception.catalogue import DEFAULT_FILE
from tests.integration.reception.steps import lobby, queued
from tests.support.harness import RunService

pytestmark = pytest.mark.integration


def branch() -> str:
    return f"b-{uuid.uuid4().hex[:8]}"


def breaches(sla: str) -> float:
    return (
        REGISTRY.get_sample_value("branchcare_sla_breaches_total", {"service": "reception", "sla": sla})
        or 0.0
    )


def met(sla: str) -> float:
    return REGISTRY.get_sample_value("branchcare_sla_met_total", {"service": "reception", "sla": sla}) or 0.0


def sla_events(types: list[str]) -> list[str]:
    return [t for t in types if t.startswith("Sla")]


async def test_wait_sla_fires_while_waiting_and_stops_when_called(run_service: RunService) -> None:
    b = branch()
    async with run_service("reception") as svc:
        visit, _ = await queued(svc, b)
        stream = f"visit-{visit}"
        await svc.advance(minutes=14)
        assert sla_events(await svc.stream_types(stream)) == []
        assert (await lobby(svc, b))["waiting"][0]["sla"] == "on_track"

        await svc.advance(minutes=1)  # 15 min: the target
        assert sla_events(await svc.stream_types(stream)) == ["SlaAtRisk"]
        board = await lobby(svc, b)
        assert board["waiting"][0]["sla"] == "at_risk" and board["waiting"][0]["waited_seconds"] == 900
        assert board["lines"][0]["at_risk"] == 1

        before = breaches("reception.wait")
        await svc.advance(minutes=15)  # 30 min: the breach, the customer is still waiting
        assert sla_events(await svc.stream_types(stream)) == ["SlaAtRisk", "SlaBreached"]
        assert (await lobby(svc, b))["waiting"][0]["sla"] == "breached"
        assert breaches("reception.wait") == before + 1

        called = await svc.ok(visit, "call", {"counter_id": "2"})
        assert called["waited_seconds"] == 1800 and called["wait_sla"] == "breached"
        await svc.advance(minutes=60)
        assert sla_events(await svc.stream_types(stream)) == ["SlaAtRisk", "SlaBreached"]
        async with svc.ctx.pool.acquire() as conn:
            deadline = await svc.app.deadlines.get(conn, visit, "reception.wait")
        assert deadline is not None and deadline.state == "met"


async def test_a_customer_called_in_time_never_triggers_the_sla(run_service: RunService) -> None:
    b = branch()
    async with run_service("reception") as svc:
        visit, _ = await queued(svc, b)
        await svc.advance(minutes=10)
        before = met("reception.wait")
        await svc.ok(visit, "call", {"counter_id": "1"})
        assert met("reception.wait") == before + 1
        await svc.advance(minutes=60)
        assert sla_events(await svc.stream_types(f"visit-{visit}")) == []


async def test_leaving_the_queue_cancels_the_wait_sla(run_service: RunService) -> None:
    b = branch()
    async with run_service("reception") as svc:
        visit, _ = await queued(svc, b)
        await svc.advance(minutes=5)
        left = await svc.ok(visit, "leave")
        assert left["left_reason"] == "abandoned"
        await svc.advance(minutes=60)
        assert sla_events(await svc.stream_types(f"visit-{visit}")) == []
        async with svc.ctx.pool.acquire() as conn:
            deadline = await svc.app.deadlines.get(conn, visit, "reception.wait")
        assert deadline is not None and deadline.state == "cancelled"


async def test_milestones_missed_during_downtime_fire_in_order_at_the_next_tick(
    run_service: RunService,
) -> None:
    b = branch()
    async with run_service("reception") as svc:
        visit, _ = await queued(svc, b)
        assert await svc.advance(minutes=45) == 2
        assert sla_events(await svc.stream_types(f"visit-{visit}")) == ["SlaAtRisk", "SlaBreached"]


async def test_a_line_can_have_its_own_wait_target(
    run_service: RunService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = DEFAULT_FILE.read_text().replace(
        "default_service_minutes = 5\n\n[lines.accounts]",
        'default_service_minutes = 5\nwait_target = "5m"\nwait_breach = "10m"\n\n[lines.accounts]',
    )
    assert 'wait_target = "5m"' in text
    custom = tmp_path / "catalogue.toml"
    custom.write_text(text)
    monkeypatch.setenv("RECEPTION_CATALOGUE_FILE", str(custom))
    b = branch()
    async with run_service("reception") as svc:
        deposits, _ = await queued(svc, b, "withdrawal")
        cards, _ = await queued(svc, b, "card_service")
        await svc.advance(minutes=10)
        assert sla_events(await svc.stream_types(f"visit-{deposits}")) == ["SlaAtRisk", "SlaBreached"]
        assert sla_events(await svc.stream_types(f"visit-{cards}")) == []


async def test_phone_rings_too_long_then_answered_breaches_once(run_service: RunService) -> None:
    b = branch()
    async with run_service("reception") as svc:
        call_id = (await svc.post(f"/branches/{b}/calls", {"masked_number": "138****5678"})).json()["call_id"]
        before = breaches("reception.phone_answer")
        await svc.advance(seconds=16)  # about three rings: the clock breaches while it still rings
        answered = await svc.post(f"/calls/{call_id}/answer", {"rings": 3})
        assert answered.status_code == 200, answered.text
        assert answered.json()["within_target"] is False and answered.json()["seconds_to_answer"] == 16
        await svc.advance(seconds=60)
        types = await svc.stream_types(f"call-{call_id}")
        assert sla_events(types) == ["SlaAtRisk", "SlaBreached"]
        assert breaches("reception.phone_answer") == before + 1


async def test_a_fourth_ring_breaches_even_before_the_clock(run_service: RunService) -> None:
    b = branch()
    async with run_service("reception") as svc:
        call_id = (await svc.post(f"/branches/{b}/calls")).json()["call_id"]
        before, met_before = breaches("reception.phone_answer"), met("reception.phone_answer")
        await svc.advance(seconds=6)
        answered = await svc.post(f"/calls/{call_id}/answer", {"rings": 4, "seconds_to_answer": 6})
        assert answered.json()["within_target"] is False
        await svc.advance(seconds=60)
        types = await svc.stream_types(f"call-{call_id}")
        assert types[:3] == ["CallReceived", "CallAnswered", "SlaBreached"] and sla_events(types) == [
            "SlaBreached"
        ]
        # counted once, as a breach, and not also as met
        assert breaches("reception.phone_answer") == before + 1
        assert met("reception.phone_answer") == met_before


async def test_calls_answered_within_target_ratio(run_service: RunService) -> None:
    b = branch()
    async with run_service("reception") as svc:
        for rings in (1, 2, 3, 5):
            call_id = (await svc.post(f"/branches/{b}/calls")).json()["call_id"]
            await svc.post(f"/calls/{call_id}/answer", {"rings": rings})
            ended = await svc.post(
                f"/calls/{call_id}/end",
                {"purpose": "enquiry", "outcome": "resolved", "notes": "opening hours"},
            )
            assert ended.status_code == 200 and ended.json()["outcome"] == "resolved"
        missed = (await svc.post(f"/branches/{b}/calls")).json()["call_id"]
        assert (await svc.post(f"/calls/{missed}/end")).json()["outcome"] == "missed"
        await svc.app.refresh_gauges()
        ratio = REGISTRY.get_sample_value("branchcare_reception_calls_answered_within_target_ratio")
        assert ratio == pytest.approx(0.75)
        stats = (await svc.get(f"/branches/{b}/visits/stats")).json()["calls"]
        assert stats["received"] == 5 and stats["answered"] == 4 and stats["missed"] == 1
        assert stats["within_target_rate"] == 0.75
