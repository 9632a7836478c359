"""The regulatory profiles over HTTP, against real PostgreSQL and the real broker: branches follow
their profile by configuration, deadlines carry their rule, and a compliance officer can see why."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from shared.clock import FixedClock
from tests.integration.complaint.steps import new_complaint
from tests.support.auth import bearer
from tests.support.harness import Running, RunService
from tests.unit.complaint.regulation_given import (
    BRANCH_PROFILES,
    CN_BRANCH,
    LONDON,
    NEW_YORK,
    SHANGHAI,
    UK_BRANCH,
    US_BRANCH,
    end_of,
    local,
    policies_toml,
)

pytestmark = pytest.mark.integration

#: a branch head of the test's branches (not the harness's ``lm-007``: requester ≠ approver)
HEAD = bearer("head-001", [CN_BRANCH, UK_BRANCH, US_BRANCH, "cn-bj-002"], ["branch_head"])
CLASSIFY = {"category": "fees_and_information_transparency", "nature": "general", "source": "web"}


def configure_regulation(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Branch calendars (cn, uk, us) in the policy file, and a profile per branch prefix."""
    policies = tmp_path / "policies.toml"
    policies.write_text(policies_toml(), encoding="utf-8")
    monkeypatch.setenv("SLA_POLICIES_FILE", str(policies))
    monkeypatch.setenv("COMPLAINT_BRANCH_PROFILES", json.dumps(BRANCH_PROFILES))


@pytest.fixture
def regulated(run_service: RunService, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> RunService:
    """The complaint service with the regulation configured (start it with ``async with``)."""
    configure_regulation(monkeypatch, tmp_path)
    return partial(run_service, "complaint")


def deadlines(case: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["sla"]: d for d in case["deadlines"]}


def due(case: dict[str, Any], sla: str = "complaint.regulatory") -> datetime:
    return datetime.fromisoformat(deadlines(case)[sla]["due_at"])


async def refused(
    svc: Running, cid: str, action: str, body: dict[str, Any] | None, reason: str, **h: str
) -> None:
    response = await svc.post(f"/complaints/{cid}/{action}", body, **h)
    assert response.status_code == 409, (action, response.text)
    assert reason in response.json()["detail"], response.json()["detail"]


async def explained(svc: Running, cid: str) -> dict[str, Any]:
    response = await svc.get(f"/complaints/{cid}/deadlines/explain")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert all(c["agrees"] for c in body["regulatory_deadlines"] if c["current"]), body
    return body


async def investigating(svc: Running, cid: str) -> None:
    await svc.ok(cid, "acknowledge", {"apology": "sorry"})
    await svc.ok(cid, "classify", CLASSIFY)
    await svc.ok(cid, "start-investigation")


# ------------------------------------------------------------------------------------- cn-2020


async def test_cn2020_extensions_appraisal_and_the_explanation(regulated: RunService) -> None:
    start = local(SHANGHAI, 2026, 1, 20)
    async with regulated(FixedClock(start)) as svc:
        created = await new_complaint(svc, CN_BRANCH)
        cid = created["complaint_id"]
        assert created["regulatory_profile"] == "cn-2020"
        regulatory = deadlines(created)["complaint.regulatory"]
        assert regulatory["policy"] == "cn-2020" and "art. 21" in regulatory["rule"]
        assert datetime.fromisoformat(regulatory["due_at"]) == start + timedelta(days=15)
        await investigating(svc, cid)

        svc.clock.advance(timedelta(days=2))
        held = await svc.ok(
            cid, "hold", {"reason": "ATM cash count by the vendor", "kind": "external_appraisal"}
        )
        assert deadlines(held)["complaint.regulatory"]["status"] == "paused"
        svc.clock.advance(timedelta(days=3))
        await svc.ok(cid, "resume", {"note": "count arrived"})
        svc.clock.advance(timedelta(days=5))
        extended = await svc.ok(cid, "extend", {"reason": "needs the card network's records"})
        assert due(extended) == start + timedelta(days=33) and extended["regulatory_limit_days"] == 30
        await refused(svc, cid, "extend", {"reason": "more"}, "needs approval")

        await svc.ok(cid, "request-extension", {"reason": "three banks involved"})
        await refused(svc, cid, "approve-extension", {}, "requester cannot decide")
        case = (await svc.get(f"/complaints/{cid}")).json()
        assert case["pending_extension"]["requested_by"] == "lm-007" and due(case) == start + timedelta(
            days=33
        )
        approved = await svc.post(f"/complaints/{cid}/approve-extension", {"note": "agreed"}, **HEAD)
        assert approved.status_code == 200, approved.text
        assert (
            due(approved.json()) == start + timedelta(days=63)
            and approved.json()["regulatory_limit_days"] == 60
        )

        why = await explained(svc, cid)
        assert why["profile"]["name"] == "cn-2020" and why["calendar"]["timezone"] == "Asia/Shanghai"
        (clock,) = why["regulatory_deadlines"]
        assert (clock["basis"], clock["initial_limit"], clock["limit"], clock["paused_seconds"]) == (
            "receipt",
            15,
            60,
            3 * 86400,
        )
        assert [e["approved_by"] for e in clock["extensions"]] == [None, "head-001"]
        assert clock["pauses"][0]["kind"] == "external_appraisal"
        assert any("paused (external_appraisal" in step for step in clock["computation"])
        assert {d["sla"] for d in why["other_deadlines"]} >= {
            "complaint.acknowledge",
            "complaint.progress_update",
        }

        types = await svc.stream_types(f"complaint-{cid}")
        assert types.count("RegulatoryDeadlineExtended") == 2
        assert ["ExtensionRequested", "ExtensionApproved"] == [t for t in types if t.startswith("Extension")]
        published = await svc.published(f"complaint-{cid}", len(types))
        extended_events = [e for e in published if e.type == "RegulatoryDeadlineExtended"]
        assert (
            extended_events[-1].data["approved_by"] == "head-001" and extended_events[-1].actor == "head-001"
        )


async def test_cn2020_a_milestone_warns_the_branch_head(regulated: RunService) -> None:
    start = local(SHANGHAI, 2026, 1, 20)
    async with regulated(FixedClock(start)) as svc:
        cid = (await new_complaint(svc, CN_BRANCH))["complaint_id"]
        await investigating(svc, cid)
        await svc.ok(cid, "progress-update", {"note": "still looking"})
        svc.clock.set(start + timedelta(days=10, minutes=1))
        await svc.app.scheduler.tick()
        history = (await svc.get(f"/complaints/{cid}")).json()["history"]
        milestones = [h["data"] for h in history if h["type"] == "RegulatoryMilestoneReached"]
        assert len(milestones) == 1, [h["type"] for h in history]
        assert milestones[0]["action"].startswith("Day 10 of 15: decide, or extend to 30 days now")
        assert milestones[0]["assignee_role"] == "branch_head" and milestones[0]["profile"] == "cn-2020"
        at_risk = [
            h["data"]
            for h in history
            if h["type"] == "SlaAtRisk" and h["data"]["sla"] == "complaint.regulatory"
        ]
        assert at_risk and at_risk[0]["deadline_id"] == milestones[0]["deadline_id"]
        assert await svc.app.scheduler.tick() == 0  # once


async def test_cn2020_repeats_merge_and_new_facts_restart(regulated: RunService) -> None:
    start = local(SHANGHAI, 2026, 1, 20)
    async with regulated(FixedClock(start)) as svc:
        first = await new_complaint(svc, CN_BRANCH, matter_key="card:1234")
        cid = first["complaint_id"]
        await investigating(svc, cid)
        svc.clock.advance(timedelta(days=4))
        repeat = {
            "channel": "phone_hotline",
            "customer_ref": "cust_ref_0042",
            "description": "again!",
            "matter_key": "card:1234",
        }
        again = await svc.post(f"/branches/{CN_BRANCH}/complaints", repeat)
        assert again.status_code == 200 and again.json()["merged"] and again.json()["complaint_id"] == cid
        assert due(again.json()) == start + timedelta(days=15)  # no new clock
        # in another branch the repeat is a case of that branch: staff there never write to (or
        # see the deadlines of) this branch's case; HQ's repeat-complainant alert links the two
        elsewhere = await svc.post("/branches/cn-bj-002/complaints", repeat)
        assert elsewhere.status_code == 201 and not elsewhere.json()["merged"]
        assert elsewhere.json()["complaint_id"] != cid
        other = await new_complaint(svc, CN_BRANCH, matter_key="loan:77")  # another matter: a case of its own
        assert other["complaint_id"] != cid and not other["merged"]
        svc.clock.advance(timedelta(days=2))
        facts = await svc.post(
            f"/branches/{CN_BRANCH}/complaints",
            {
                "channel": "app",
                "customer_ref": "cust_ref_0042",
                "description": "here is the second statement",
                "matter_key": "card:1234",
                "new_facts": True,
            },
        )
        assert facts.status_code == 200 and facts.json()["merged"]
        assert due(facts.json()) == start + timedelta(days=21)  # 15 days from the new material
        case = (await svc.get(f"/complaints/{cid}")).json()
        assert case["repeats"] == 2
        merged = [h["data"] for h in case["history"] if h["type"] == "RepeatComplaintMerged"]
        assert merged[0]["received_in_branch"] == CN_BRANCH and merged[1]["new_facts"]
        why = await explained(svc, cid)
        assert [c["basis"] for c in why["regulatory_deadlines"]] == ["receipt", "new_facts"]
        board = (await svc.get(f"/branches/{CN_BRANCH}/complaints")).json()
        assert len(board["complaints"]) == 2
        unmasked = await svc.post(
            f"/branches/{CN_BRANCH}/complaints",
            {
                "channel": "web",
                "customer_ref": "cust_ref_0042",
                "description": "x",
                "matter_key": "card:6222021234567890",
            },
        )
        assert unmasked.status_code == 422 and "mask" in unmasked.text


async def test_cn2020_recusal_representatives_and_remediation(regulated: RunService) -> None:
    async with regulated(FixedClock(local(SHANGHAI, 2026, 1, 20))) as svc:
        too_many = [f"cust_ref_{i:04d}" for i in range(6)]
        response = await svc.post(
            f"/branches/{CN_BRANCH}/complaints",
            {
                "channel": "letter",
                "customer_ref": "cust_ref_0042",
                "description": "x",
                "representatives": too_many,
            },
        )
        assert response.status_code == 409 and "at most 5 representatives" in response.json()["detail"]
        case = await new_complaint(
            svc, CN_BRANCH, about_staff=["teller-3"], collective=True, representatives=too_many[:5]
        )
        cid = case["complaint_id"]
        await refused(svc, cid, "assign", {"handler": "teller-3"}, "recusal")
        assigned = await svc.ok(cid, "assign", {"handler": "lm-009"})
        assert assigned["handler"] == "lm-009" and assigned["representatives"] == too_many[:5]
        await svc.ok(cid, "acknowledge")
        await svc.ok(cid, "classify", {**CLASSIFY, "nature": "major", "business_type": "debit_card"})
        await svc.ok(cid, "start-investigation")
        await svc.ok(cid, "answer", {"answer": "the fee is in the tariff", "outcome": "not_upheld"})
        await refused(
            svc,
            cid,
            "close",
            {"result": "x", "root_cause": "rc", "remediation": "fix"},
            "remediation actions",
        )
        due_at = (svc.clock.now() + timedelta(days=30)).isoformat()
        closed = await svc.ok(
            cid,
            "close",
            {
                "result": "explained",
                "root_cause": "tariff not shown at account opening",
                "cause_code": "disclosure",
                "remediation_actions": [
                    {
                        "description": "show the tariff on the counter screen",
                        "owner": "ops-lead",
                        "due_at": due_at,
                    }
                ],
            },
        )
        assert closed["status"] == "closed"
        history = (await svc.get(f"/complaints/{cid}")).json()["history"]
        data = history[-1]["data"]
        assert data["remediation_actions"][0]["owner"] == "ops-lead" and data["cause_code"] == "disclosure"
        # the history shows the action's words to staff of the branch (the event holds a reference)
        action_text = data["remediation_actions"][0]["description"]
        assert (
            action_text["status"] == "shown"
            and action_text["text"] == "show the tariff on the counter screen"
        )
        assert data["remediation"] is None


async def test_cn2020_review_is_a_cycle_of_its_own(regulated: RunService) -> None:
    start = local(SHANGHAI, 2026, 1, 20)
    async with regulated(FixedClock(start)) as svc:
        cids = [(await new_complaint(svc, CN_BRANCH))["complaint_id"] for _ in range(2)]
        for cid in cids:
            await investigating(svc, cid)
            await svc.ok(cid, "answer", {"answer": "the fee is in the tariff", "outcome": "not_upheld"})
            await svc.ok(cid, "close", {"result": "explained"})
        svc.clock.advance(timedelta(days=30))
        cid, late = cids
        reviewed = await svc.ok(cid, "request-review", {"reason": "the tariff was never shown to me"})
        assert (
            reviewed["status"] == "under_review"
            and reviewed["cycle"] == 2
            and reviewed["level"] == "branch_head"
        )
        assert due(reviewed, "complaint.review") == start + timedelta(days=60)
        assert deadlines(reviewed)["complaint.review"]["policy"] == "cn-2020"
        svc.clock.advance(timedelta(seconds=1))
        await refused(svc, late, "request-review", {"reason": "x"}, "more than 30 days ago")
        await refused(svc, cid, "propose", {"solutions": [{"description": "x"}]}, "reviewing the decision")
        svc.clock.advance(timedelta(days=10))
        decided = await svc.post(
            f"/complaints/{cid}/decide-review",
            {"outcome": "decision_changed", "decision": "fee refunded"},
            **HEAD,
        )
        assert decided.status_code == 200 and decided.json()["review_outcome"] == "decision_changed"
        assert deadlines(decided.json())["complaint.review"]["status"] == "met"
        await svc.ok(cid, "close", {"result": "refunded after review"})
        await refused(svc, cid, "request-review", {"reason": "again"}, "already reviewed")
        await explained(svc, cid)


# -------------------------------------------------------------------------------------- uk-fca


async def test_uk_payment_services_count_business_days_and_do_not_stop(regulated: RunService) -> None:
    start = local(LONDON, 2026, 3, 25, 11)  # Wednesday before Easter; the clocks change on Sunday
    async with regulated(FixedClock(start)) as svc:
        created = await new_complaint(svc, UK_BRANCH, business_type="payment_services")
        cid = created["complaint_id"]
        assert created["regulatory_profile"] == "uk-fca"
        assert due(created) == end_of(LONDON, date(2026, 4, 17))  # Good Friday and Easter Monday skipped
        ack = await svc.ok(cid, "acknowledge", {"apology": "sorry"})
        timeline = (await svc.get(f"/complaints/{cid}")).json()["history"][-1]["data"]["timeline"]
        assert "17 April 2026" in timeline and "Financial Ombudsman Service" in timeline
        assert ack["status"] == "acknowledged"
        await svc.ok(cid, "classify", {**CLASSIFY, "business_type": "payment_services"})
        await svc.ok(cid, "start-investigation")
        svc.clock.advance(timedelta(days=2))
        held = await svc.ok(cid, "hold", {"reason": "waiting for the customer's statement"})
        status = {sla: d["status"] for sla, d in deadlines(held).items()}
        assert (
            status["complaint.regulatory"] == "on_track" and status["complaint.progress_update"] == "paused"
        )
        svc.clock.advance(timedelta(days=5))
        await svc.ok(cid, "resume")
        await refused(svc, cid, "extend", {"reason": "x"}, "moves only with a holding response")
        await refused(
            svc, cid, "interim-response", {"kind": "holding", "note": "x"}, "Financial Ombudsman Service"
        )
        holding = await svc.ok(
            cid,
            "interim-response",
            {"kind": "holding", "note": "the card scheme investigates", "refers_to_ombudsman": True},
        )
        assert due(holding) == end_of(LONDON, date(2026, 5, 18))  # business day 35 (May Day skipped)
        why = await explained(svc, cid)
        (clock,) = why["regulatory_deadlines"]
        assert clock["unit"] == "business_days" and clock["calendar"] == "uk" and clock["limit"] == 35
        text = " ".join(clock["computation"])
        assert "holidays skipped: Fri 2026-04-03, Mon 2026-04-06, Mon 2026-05-04" in text
        await refused(svc, cid, "answer", {"answer": "refunded", "outcome": "not_upheld"}, "Ombudsman")
        answered = await svc.ok(
            cid,
            "answer",
            {
                "answer": "refunded",
                "outcome": "not_upheld",
                "response_kind": "final",
                "refers_to_ombudsman": True,
            },
        )
        assert deadlines(answered)["complaint.regulatory"]["status"] == "met"


async def test_uk_summary_resolution_window(regulated: RunService) -> None:
    start = local(LONDON, 2026, 4, 2, 11)  # Thursday before Easter: day 3 is Thursday 9 April
    async with regulated(FixedClock(start)) as svc:
        early, late = [(await new_complaint(svc, UK_BRANCH))["complaint_id"] for _ in range(2)]
        for cid in (early, late):
            await investigating(svc, cid)
        body = {
            "answer": "refunded",
            "outcome": "not_upheld",
            "response_kind": "summary_resolution",
            "refers_to_ombudsman": True,
        }
        svc.clock.set(local(LONDON, 2026, 4, 9, 17, 30))
        assert (await svc.ok(early, "answer", body))["status"] == "answered"
        svc.clock.set(local(LONDON, 2026, 4, 9, 17, 31))
        await refused(svc, late, "answer", body, "too late for a summary resolution communication")
        eight_weeks = (await svc.get(f"/complaints/{late}")).json()
        assert due(eight_weeks) == start + timedelta(weeks=8)


# ------------------------------------------------------------------------------------- us-cfpb


async def test_us_cfpb_in_progress_then_final(regulated: RunService) -> None:
    start = local(NEW_YORK, 2026, 11, 20)
    async with regulated(FixedClock(start)) as svc:
        created = await new_complaint(svc, US_BRANCH)
        cid = created["complaint_id"]
        assert due(created, "complaint.initial_response") == start + timedelta(days=15)
        assert due(created) == start + timedelta(days=60)
        await investigating(svc, cid)
        svc.clock.advance(timedelta(days=12))
        sent = await svc.ok(
            cid, "interim-response", {"kind": "in_progress", "note": "we are reviewing your file"}
        )
        status = {sla: d["status"] for sla, d in deadlines(sent).items()}
        assert status["complaint.initial_response"] == "met" and status["complaint.regulatory"] == "on_track"
        svc.clock.advance(timedelta(days=30))
        answered = await svc.ok(cid, "answer", {"answer": "refund issued", "outcome": "not_upheld"})
        assert deadlines(answered)["complaint.regulatory"]["status"] == "met"
        history = (await svc.get(f"/complaints/{cid}")).json()["history"]
        outcome = next(h["data"] for h in history if h["type"] == "ComplaintAnswered")["regulatory_outcomes"]
        assert [(o["sla"], o["counted_days"], o["within_limit"]) for o in outcome] == [
            ("complaint.regulatory", 42.0, True)
        ]
        await explained(svc, cid)
