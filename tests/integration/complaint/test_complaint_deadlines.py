"""The complaint's SLA clocks against real PostgreSQL: fired once, after downtime, paused on hold."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta
from uuid import uuid4

import asyncpg
import pytest

from shared.clock import FixedClock
from shared.sla.scheduler import DeadlineScheduler
from tests.integration.complaint.steps import T0, new_complaint
from tests.support.harness import Running, RunService
from tests.support.services import wait_until

pytestmark = pytest.mark.integration


def branch() -> str:
    return f"b-{uuid4().hex[:8]}"


async def test_a_breach_fires_once_with_two_scheduler_instances_and_escalates(
    run_service: RunService, database_url: str
) -> None:
    async with run_service("complaint") as svc:
        cids = [(await new_complaint(svc, branch()))["complaint_id"] for _ in range(5)]
        for cid in cids:
            await svc.ok(cid, "acknowledge", {"apology": "sorry"})
        # a second replica: its own pool and scheduler over the same deadlines table
        other_pool = await asyncpg.create_pool(
            database_url, min_size=1, max_size=5, server_settings={"search_path": "complaint"}
        )
        assert other_pool is not None
        try:
            other = DeadlineScheduler(svc.app.deadlines, other_pool, svc.app.on_fire)
            svc.clock.set(T0 + timedelta(hours=24, seconds=1))  # resolve and progress update are due
            await asyncio.gather(
                svc.app.scheduler.tick(), other.tick(), svc.app.scheduler.tick(), other.tick()
            )
        finally:
            await other_pool.close()
        for cid in cids:
            history = (await svc.get(f"/complaints/{cid}")).json()["history"]
            breaches = Counter(h["data"]["sla"] for h in history if h["type"] == "SlaBreached")
            assert breaches == {"complaint.resolve": 1, "complaint.progress_update": 1}
            escalations = [h["data"] for h in history if h["type"] == "ComplaintEscalated"]
            assert len(escalations) == 1 and escalations[0]["automatic"]
            assert escalations[0]["to_level"] == "branch_head"
            breach = next(
                h for h in history if h["type"] == "SlaBreached" and h["data"]["sla"] == "complaint.resolve"
            )
            assert datetime.fromisoformat(breach["data"]["at"]) == T0 + timedelta(hours=24)
            assert breach["actor"] == "system:sla-clock"
        metrics = (await svc.http.get("/metrics")).text
        assert 'branchcare_sla_breaches_total{service="complaint",sla="complaint.resolve"}' in metrics
        assert (
            'branchcare_complaint_escalations_total{to_level="branch_head",trigger="sla_breach"}' in metrics
        )
        # the breach is an event other services see
        published = await svc.published(f"complaint-{cids[0]}", 5)
        assert "SlaBreached" in [e.type for e in published]


async def test_a_deadline_missed_during_downtime_fires_at_start_up(run_service: RunService) -> None:
    clock = FixedClock(T0)
    async with run_service("complaint", clock) as svc:
        cid = (await new_complaint(svc, branch()))["complaint_id"]
    clock.set(T0 + timedelta(hours=2))  # the service was down when the acknowledgement was due
    async with run_service("complaint", clock) as svc:
        # the fresh scheduler's first tick, at start-up, fires what fell due meanwhile
        await wait_until(lambda: breached(svc, cid), timeout=10)
        history = (await svc.get(f"/complaints/{cid}")).json()["history"]
        fired = [(h["type"], h["data"]["sla"]) for h in history if h["type"].startswith("Sla")]
        assert fired == [("SlaAtRisk", "complaint.acknowledge"), ("SlaBreached", "complaint.acknowledge")]
        breach = history[-1]["data"]
        assert datetime.fromisoformat(breach["at"]) == T0 + timedelta(minutes=30)  # when it was due
        assert await svc.app.scheduler.tick() == 0  # nothing fires twice
        case = (await svc.get(f"/complaints/{cid}")).json()
        acknowledge = next(d for d in case["deadlines"] if d["sla"] == "complaint.acknowledge")
        assert acknowledge["status"] == "breached" and acknowledge["remaining_seconds"] == -90 * 60


async def breached(svc: Running, cid: str) -> bool:
    return "SlaBreached" in await svc.stream_types(f"complaint-{cid}")


async def test_hold_pauses_every_clock_and_resume_moves_them_by_the_paused_time(
    run_service: RunService,
) -> None:
    async with run_service("complaint") as svc:
        cid = (await new_complaint(svc, branch()))["complaint_id"]
        await svc.ok(cid, "acknowledge")
        before = {d["sla"]: d for d in (await svc.get(f"/complaints/{cid}")).json()["deadlines"]}
        held = await svc.ok(cid, "hold", {"reason": "customer looks for the receipt"})
        assert held["on_hold"] and {d["status"] for d in held["deadlines"]} == {"met", "paused"}
        svc.clock.advance(timedelta(days=2))
        assert await svc.app.scheduler.tick() == 0  # nothing breaches while the case waits
        board = (await svc.get(f"/branches/{held['branch_id']}/complaints", status="on_hold")).json()
        assert [c["complaint_id"] for c in board["complaints"]] == [cid]
        assert board["complaints"][0]["sla_status"] == "paused"
        resumed = await svc.ok(cid, "resume", {"note": "receipt found"})
        after = {d["sla"]: d for d in resumed["deadlines"]}
        for sla in ("complaint.resolve", "complaint.regulatory", "complaint.progress_update"):
            moved = datetime.fromisoformat(after[sla]["due_at"]) - datetime.fromisoformat(
                before[sla]["due_at"]
            )
            assert moved == timedelta(days=2), sla
            assert after[sla]["status"] == "on_track"


async def test_extension_and_in_branch_resolve_clock(run_service: RunService) -> None:
    async with run_service("complaint") as svc:
        visit = str(uuid4())
        created = await new_complaint(svc, branch(), channel="in_branch", visit_id=visit)
        cid = created["complaint_id"]
        assert "complaint.resolve" not in {d["sla"] for d in created["deadlines"]}  # the customer is here
        svc.clock.advance(timedelta(minutes=40))
        left = await svc.ok(cid, "customer-left")
        resolve = next(d for d in left["deadlines"] if d["sla"] == "complaint.resolve")
        assert datetime.fromisoformat(resolve["due_at"]) == T0 + timedelta(minutes=40, hours=24)

        await svc.ok(cid, "acknowledge")
        extended = await svc.ok(cid, "extend", {"reason": "needs the card scheme's investigation"})
        regulatory = next(d for d in extended["deadlines"] if d["sla"] == "complaint.regulatory")
        assert datetime.fromisoformat(regulatory["due_at"]) == T0 + timedelta(days=30)
        assert extended["regulatory_limit_days"] == 30
        again = await svc.post(f"/complaints/{cid}/extend", {"reason": "more"})
        assert again.status_code == 409 and "already extended" in again.json()["detail"]


async def test_reopen_starts_a_new_cycle_with_fresh_deadlines(run_service: RunService) -> None:
    async with run_service("complaint") as svc:
        cid = (await new_complaint(svc, branch()))["complaint_id"]
        await svc.ok(cid, "acknowledge")
        classification = {
            "category": "fees_and_information_transparency",
            "nature": "general",
            "source": "sms",
        }
        await svc.ok(cid, "classify", classification)
        await svc.ok(cid, "start-investigation")
        await svc.ok(cid, "answer", {"answer": "the fee is correct", "outcome": "not_upheld"})
        closed = await svc.ok(cid, "close", {"result": "explained"})
        assert all(d["status"] in ("met", "cancelled") for d in closed["deadlines"])
        svc.clock.advance(timedelta(days=10))
        reopened = await svc.ok(cid, "reopen", {"reason": "new statement shows the fee again"})
        assert reopened["status"] == "reopened" and reopened["cycle"] == 2
        due = {d["sla"]: d for d in reopened["deadlines"]}
        assert {d["status"] for d in due.values()} == {"on_track"}
        assert datetime.fromisoformat(due["complaint.acknowledge"]["due_at"]) == T0 + timedelta(
            days=10, minutes=30
        )
        svc.clock.advance(timedelta(days=31))
        await svc.ok(cid, "acknowledge")
        await svc.ok(cid, "start-investigation")
        await svc.ok(cid, "answer", {"answer": "refunded", "outcome": "not_upheld"})
        await svc.ok(cid, "close", {"result": "explained again"})
        svc.clock.advance(timedelta(days=30, seconds=1))
        too_late = await svc.post(f"/complaints/{cid}/reopen", {"reason": "x"})
        assert too_late.status_code == 409 and "more than 30 days ago" in too_late.json()["detail"]
