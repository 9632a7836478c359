"""The regulatory complaint report from REAL events: the complaint service (in-process, FixedClock)
handles a cn-2020 scenario over HTTP and publishes its events; the follow-up tasks of the
remediation actions are the follow-up decider's own events; HQ (a real process) projects them, and
every number of the report is checked — then again after a rebuild from the topics."""

from __future__ import annotations

import io
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
import pytest_asyncio
from openpyxl import load_workbook

from services.followup.decider import CompleteTask, Task, decide, evolve
from services.followup.decider.rules import TaskRules
from services.hq.config import DEFAULT_PROFILES_DIR
from services.hq.report import SECTIONS
from services.hq.report_csv import parse_csv_sections
from shared.clock import FixedClock
from shared.contracts.complaint import ComplaintClosed
from shared.devstack import TansuBroker
from shared.envelope import Envelope
from shared.sla.policy import PolicyBook
from tests.integration.complaint.steps import new_complaint
from tests.integration.hq.steps import FEED_SETTINGS, HQ_SETTINGS, connect, read, wait_events
from tests.support.auth import BRANCH_ROLES, StaffAuth, admin, bearer, hq_analyst
from tests.support.events import envelope_of
from tests.support.harness import Running, as_process, running, together
from tests.support.kafka import publish
from tests.support.services import wait_until
from tests.support.texts import ref

pytestmark = pytest.mark.integration

#: Monday 5 January 2026, 10:00 in Shanghai: every case below is received that (branch-local) day
T0 = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)
DAY = timedelta(days=1)
BRANCH, OTHER = "cn-reg-001", "cn-reg-002"
HEAD = bearer("head-001", [BRANCH], BRANCH_ROLES)  # higher-level management: not the requester
PERIOD = {"from": "2026-01-05", "to": "2026-01-05"}


@dataclass
class World:
    hq: Running
    complaint: Running
    database_url: str


@pytest_asyncio.fixture(loop_scope="session")
async def world(database_url: str, private_broker: TansuBroker, tmp_path: Path) -> AsyncIterator[World]:
    # the bank has since retired the "deposits" business type: cases filed under it are "unknown"
    profiles = tmp_path / "profiles"
    shutil.copytree(DEFAULT_PROFILES_DIR, profiles)
    cn = profiles / "cn-2020.toml"
    cn.write_text("\n".join(x for x in cn.read_text().splitlines() if not x.startswith("deposits =")))
    customers = tmp_path / "customers.toml"
    customers.write_text(f'default_customers = 100000\n[branches]\n"{BRANCH}" = 400000\n')
    bootstrap = private_broker.bootstrap_servers
    report_data = {"profiles_dir": str(profiles), "customers_file": str(customers)}
    auth = StaffAuth("lm-007", branches=[BRANCH, OTHER])
    async with together(
        as_process("hqfeed", database_url, bootstrap, settings=FEED_SETTINGS, staff=None, log_dir=tmp_path),
        as_process(
            "hq",
            database_url,
            bootstrap,
            settings={**HQ_SETTINGS, **report_data},
            staff=None,
            headers=hq_analyst(),
            log_dir=tmp_path,
        ),
        running("complaint", database_url, bootstrap, clock=FixedClock(T0 - 40 * DAY), staff=auth),
    ) as (_, hq, complaint):
        yield World(hq, complaint, database_url)


async def as_head(svc: Running, cid: str, action: str, body: dict[str, Any]) -> None:
    response = await svc.http.post(f"/complaints/{cid}/{action}", json=body, headers=HEAD)
    assert response.status_code == 200, f"{action}: {response.text}"


async def investigating(svc: Running, cid: str, classify: dict[str, Any]) -> None:
    await svc.ok(cid, "acknowledge", {"apology": "sorry"})
    await svc.ok(cid, "classify", classify)
    await svc.ok(cid, "start-investigation")


async def scenario(svc: Running) -> tuple[str, list[UUID]]:
    """A (major, extended to 60 days with approval, appraisal pause, decided day 40, closed with
    three remediation actions, reviewed), B (decided on day 3), C (extension denied, pending), and
    D at another branch 40 days earlier (outside the period)."""
    clock = svc.clock
    await new_complaint(svc, OTHER, "web", customer_ref="cust_reg_0004")  # D, at T0 - 40 days
    clock.set(T0)
    a = (
        await new_complaint(
            svc, BRANCH, "phone_hotline", customer_ref="cust_reg_0001", business_type="credit_card"
        )
    )["complaint_id"]
    b = (
        await new_complaint(svc, BRANCH, "in_branch", customer_ref="cust_reg_0002", business_type="deposits")
    )["complaint_id"]
    c = (await new_complaint(svc, BRANCH, "app", customer_ref="cust_reg_0003"))["complaint_id"]
    clock.advance(timedelta(hours=1))
    await investigating(
        svc,
        a,
        {
            "category": "fees_and_information_transparency",
            "nature": "major",
            "source": "phone",
            "cause_code": "pricing_fees",
        },
    )
    await investigating(
        svc,
        b,
        {"category": "waiting_time", "nature": "general", "source": "lobby", "cause_code": "service_quality"},
    )
    await investigating(svc, c, {"category": "waiting_time", "nature": "general", "source": "app"})
    solution = str(uuid4())
    await svc.ok(b, "propose", {"solutions": [{"solution_id": solution, "description": "fee refund"}]})
    await svc.ok(b, "accept", {"solution_id": solution})

    clock.set(T0 + 2 * DAY)
    await svc.ok(a, "hold", {"reason": "card network appraisal", "kind": "external_appraisal"})
    clock.set(T0 + 3 * DAY)
    await svc.ok(b, "implement", {"solution_id": solution})
    await svc.ok(b, "answer", {"answer": "refunded", "outcome": "upheld"})
    await svc.ok(b, "close", {"result": "refunded", "customer_satisfied": True})
    clock.set(T0 + 5 * DAY)
    await svc.ok(a, "resume", {"note": "appraisal arrived"})
    clock.set(T0 + 10 * DAY)
    await svc.ok(a, "extend", {"reason": "needs the card network's records"})
    await svc.ok(c, "extend", {"reason": "two branches involved"})
    clock.set(T0 + 20 * DAY)
    await svc.ok(c, "request-extension", {"reason": "still waiting"})
    clock.set(T0 + 21 * DAY)
    await as_head(svc, c, "deny-extension", {"reason": "decide with what you have"})
    clock.set(T0 + 25 * DAY)
    await svc.ok(a, "request-extension", {"reason": "three banks involved"})
    clock.set(T0 + 26 * DAY)
    await as_head(svc, a, "approve-extension", {"note": "agreed"})
    clock.set(T0 + 40 * DAY)
    await svc.ok(a, "answer", {"answer": "the fee was in the tariff", "outcome": "not_upheld"})
    closed_at = T0 + 41 * DAY
    clock.set(closed_at)
    actions = [uuid4(), uuid4(), uuid4()]
    await svc.ok(
        a,
        "close",
        {
            "result": "explained",
            "root_cause": "the tariff page hid the fee",
            "remediation_actions": [
                {
                    "action_id": str(x),
                    "description": f"fix {i}",
                    "owner": f"ops-{i}",
                    "due_at": str(closed_at + d),
                }
                for i, (x, d) in enumerate(zip(actions, (10 * DAY, 20 * DAY, 40 * DAY), strict=True))
            ],
        },
    )
    clock.set(T0 + 45 * DAY)
    await svc.ok(a, "request-review", {"reason": "the tariff was not shown to me"})
    clock.set(T0 + 50 * DAY)
    await as_head(svc, a, "decide-review", {"outcome": "decision_changed", "decision": "refund as goodwill"})
    return a, actions


async def remediation_tasks(svc: Running, complaint_id: str) -> list[Envelope]:
    """Follow-up's events for A's remediation actions: scheduled by its own rule and decider, the
    first action completed 8 days after the close (before its due time)."""
    history = (await svc.app.handler.load(f"complaint-{complaint_id}")).history
    close = next(e for e in history if e.type == "ComplaintClosed")
    data = ComplaintClosed.model_validate(close.data)
    out: list[Envelope] = []
    for i, command in enumerate(
        TaskRules(PolicyBook.load()).on_complaint_closed(close, data, close.occurred_at)
    ):
        (scheduled,) = decide(Task(), command)
        stream = f"followup-{command.task_id}"
        out.append(
            envelope_of(scheduled, stream_id=stream, version=1, branch_id=BRANCH, at=close.occurred_at)
        )
        if i == 0:
            done_at = data.at + 8 * DAY
            (completed,) = decide(
                evolve(Task(), scheduled), CompleteTask(at=done_at, note=ref("tariff page fixed", "followup"))
            )
            out.append(envelope_of(completed, stream_id=stream, version=2, branch_id=BRANCH, at=done_at))
    return out


async def projected(world: World, followup_events: int) -> None:
    """Until HQ counted every complaint event of both branches and the follow-up events."""
    conn = await asyncpg.connect(world.database_url, server_settings={"search_path": "complaint"})
    try:
        complaint_events = await conn.fetchval(
            "SELECT count(*) FROM events WHERE branch_id = ANY($1::text[])", [BRANCH, OTHER]
        )
    finally:
        await conn.close()
    await wait_events(world.hq, [BRANCH, OTHER], int(complaint_events) + followup_events, timeout=30)


async def report(hq: Running, **params: Any) -> Any:
    return await read(hq, "/hq/reports/complaints", **PERIOD, **params)


async def test_the_report_answers_the_regulator_from_real_events_and_survives_a_rebuild(world: World) -> None:
    svc, hq = world.complaint, world.hq
    a, actions = await scenario(svc)
    tasks = await remediation_tasks(svc, a)
    await publish(svc.bootstrap, "followup.events.v1", *tasks)
    await projected(world, len(tasks))

    closed_at = T0 + 41 * DAY
    as_of = closed_at + 30 * DAY  # a1 done on time, a2 overdue (due day 20), a3 not yet due (day 40)
    r = await report(hq, as_of=as_of.isoformat())
    s = r["summary"]
    assert (s["received"], s["decided"], s["pending"], s["closed"]) == (3, 2, 1, 1)  # A is under review again
    # B decided in 3 days; A in 40 days minus the 3-day appraisal = 37 counted days, within its 60
    assert (s["decided_within_15d"], s["decided_within_30d"], s["decided_within_60d"]) == (1, 1, 2)
    assert s["share_decided_within_15d"] == pytest.approx(1 / 3) and s["share_of_decided_within_15d"] == 0.5
    assert s["share_decided_within_60d"] == pytest.approx(2 / 3) and s["share_of_decided_within_60d"] == 1.0
    assert (s["decided_within_limit"], s["decided_after_limit"]) == (2, 0)
    assert s["avg_handling_days"] == pytest.approx((3 + 37) / 2)
    # two branches known to HQ (D's included); 400,000 + 100,000 customers
    assert (s["branches"], s["customers"]) == (2, 500_000)
    assert s["complaints_per_1000_branches"] == 1500.0 and s["complaints_per_10m_customers"] == 60.0
    assert r["extensions"] == {
        "complaints_extended": 2,
        "requested": 2,
        "approved": 1,
        "denied": 1,
        "pending": 0,
    }
    assert r["reviews"] == {
        "complaints_reviewed": 1,
        "requested": 1,
        "decided": 1,
        "pending": 0,
        "original_upheld": 0,
        "decision_changed": 1,
        "decided_within_limit": 1,
    }
    assert r["remediation"] == {
        "actions": 3,
        "completed": 1,
        "completed_on_time": 1,
        "completed_late": 0,
        "cancelled": 0,
        "open": 2,
        "overdue": 1,
        "open_not_yet_due": 1,
    }
    (late,) = r["overdue_actions"]
    assert late["action_id"] == str(actions[1]) and late["complaint_id"] == a and late["owner"] == "ops-1"
    assert late["days_overdue"] == pytest.approx(10.0) and late["branch_id"] == BRANCH
    assert (s["with_root_cause"], s["escalated"], s["fcr"], s["share_fcr"]) == (1, 1, 1, 1.0)

    dist = r["handling_time_distribution"]
    assert (dist["handled_le_3d"], dist["handled_le_60d"], dist["pending"]) == (1, 1, 1)
    assert sum(dist.values()) == 3
    rows = {(x["category"], x["nature"], x["channel"]): x["received"] for x in r["rows"]}
    assert rows == {
        ("fees_and_information_transparency", "major", "phone_hotline"): 1,
        ("waiting_time", "general", "in_branch"): 1,
        ("waiting_time", "general", "app"): 1,
    }
    assert {x["channel"]: x["received"] for x in r["by_channel"]} == {
        "app": 1,
        "in_branch": 1,
        "phone_hotline": 1,
        "ALL": 3,
    }
    types = {x["business_type"]: (x["code_status"], x["label"], x["received"]) for x in r["by_business_type"]}
    assert types["credit_card"] == ("known", "信用卡 credit cards", 1)
    assert types["deposits"] == ("unknown", None, 1)  # retired from the code table since
    assert types[None] == ("unspecified", None, 1) and types["ALL"][2] == 3
    causes = {x["cause_code"]: (x["code_status"], x["decided_within_15d"]) for x in r["by_cause_code"]}
    assert causes == {
        "pricing_fees": ("known", 0),
        "service_quality": ("known", 1),
        None: ("unspecified", 0),
        "ALL": (None, 1),
    }
    assert (s["business_type_unknown"], s["business_type_unspecified"], s["cause_code_unspecified"]) == (
        1,
        1,
        1,
    )
    by_profile = await report(hq, by="regulatory_profile,review_outcome")
    assert {(x["regulatory_profile"], x["review_outcome"]): x["received"] for x in by_profile["rows"]} == {
        ("cn-2020", "decision_changed"): 1,
        ("cn-2020", "unspecified"): 2,
    }

    # remediation at other moments: before the close nothing existed; 5 days after, all open
    before = await report(hq, as_of=(closed_at - DAY).isoformat(), section="remediation")
    assert before["remediation"]["actions"] == 0 and set(before) >= {"from", "to", "as_of", "remediation"}
    early = (await report(hq, as_of=(closed_at + 5 * DAY).isoformat()))["remediation"]
    assert (early["actions"], early["open"], early["overdue"], early["completed"]) == (3, 3, 0, 0)
    now = (await report(hq))["remediation"]  # as of now (November 2026): a2 and a3 are overdue
    assert (now["completed_on_time"], now["overdue"], now["open_not_yet_due"]) == (1, 2, 0)

    text = await report(hq, format="csv", as_of=as_of.isoformat())
    sections = parse_csv_sections(text)
    assert list(sections) == list(SECTIONS)
    summary = {x["metric"]: x["value"] for x in sections["summary"]}
    assert summary["decided_within_60d"] == "2" and summary["complaints_per_10m_customers"] == "60"
    assert summary["remediation_overdue"] == "1" and summary["extensions_denied"] == "1"
    assert sections["overdue_actions"][0]["task_id"] == late["task_id"]
    assert sections["rows"][-1]["received"] == "3"
    book = load_workbook(io.BytesIO(await report(hq, format="xlsx", as_of=as_of.isoformat())))
    assert book.sheetnames == list(SECTIONS) and book["rows"].freeze_panes == "A2"
    by_metric = {r[0].value: r[1].value for r in book["summary"].iter_rows(min_row=2)}
    assert by_metric["decided_within_60d"] == 2 and by_metric["remediation_overdue"] == 1
    plain = await report(hq, format="csv", section="by_cause_code")
    assert plain.splitlines()[0].startswith("regulatory_profile,cause_code,label,code_status,received,")
    bad = await hq.http.get(f"{hq.url}/hq/reports/complaints", params={"section": "everything"})
    assert bad.status_code == 422

    # the same report after a rebuild from the topics (follow-up and complaint events interleave
    # differently: the remediation rows must not depend on which came first)
    live_json = await report(hq, as_of=as_of.isoformat())
    live_csv = text
    live_actions = await remediation_rows(hq)
    response = await hq.http.post(f"{hq.url}/hq/admin/rebuild", headers=admin("hq-admin"))
    assert response.status_code == 202, response.text
    generation = response.json()["generation"]

    async def rebuilt() -> bool:
        state = await read(hq, "/hq/status")
        return bool(state["generation"] == generation and not state["rebuilding"])

    await wait_until(rebuilt, timeout=30, message="the rebuild never caught up")
    await projected(world, len(tasks))
    after_json = await report(hq, as_of=as_of.isoformat())
    assert after_json.pop("read_model_generation") == generation
    live_json.pop("read_model_generation")
    assert after_json == live_json
    assert await report(hq, format="csv", as_of=as_of.isoformat()) == live_csv
    assert await remediation_rows(hq) == live_actions


async def remediation_rows(hq: Running) -> list[tuple[Any, ...]]:
    conn = await connect(hq)
    try:
        return [
            tuple(x.values()) for x in await conn.fetch("SELECT * FROM remediation_actions ORDER BY task_id")
        ]
    finally:
        await conn.close()
