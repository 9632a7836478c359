"""The follow-up service and the complaint service's regulatory events (issue 8), for real: milestone
tasks for the branch head, informing the complainant of a hold, a resume and an extension, one
remediation task per action at close — and all of it idempotent under redelivery."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from shared.contracts.complaint import (
    Channel,
    ClockOutcome,
    ComplaintAnswered,
    ComplaintClosed,
    ComplaintPutOnHold,
    ComplaintReceived,
    ComplaintResumed,
    HoldKind,
    LimitUnit,
    Outcome,
    RegulatoryDeadlineExtended,
    RegulatoryMilestoneReached,
    RemediationAction,
)
from shared.envelope import Envelope
from tests.integration.followup.steps import T0, branch, list_tasks, wait_tasks
from tests.support.events import Stream
from tests.support.harness import Running, running
from tests.support.kafka import publish
from tests.support.services import wait_until
from tests.support.texts import ref

pytestmark = pytest.mark.integration

COMPLAINTS = "complaint.events.v1"
SLA = "complaint.regulatory"


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def milestone(complaint_id: UUID, day: float, limit: int, due_at: datetime, action: str) -> Any:
    return RegulatoryMilestoneReached(
        complaint_id=complaint_id,
        deadline_id=uuid4(),
        sla=SLA,
        profile="cn-2020",
        limit=limit,
        unit=LimitUnit.days,
        day=day,
        due_at=due_at,
        action=action,
        at=T0 + timedelta(days=day),
    )


async def consumed(svc: Running, stream: Stream) -> None:
    async def done() -> bool:
        rows = await svc.fetch(
            "SELECT version FROM projection_positions WHERE projection = 'task_rules' AND stream_id = $1",
            stream.stream_id,
        )
        return bool(rows) and rows[0]["version"] >= stream.version

    await wait_until(done, 15, message=f"{stream.stream_id} consumed up to v{stream.version}")


async def scheduled_count(svc: Running, b: str) -> int:
    rows = await svc.fetch(
        "SELECT count(*) AS n FROM events WHERE type = 'FollowUpScheduled' AND branch_id = $1", b
    )
    return int(rows[0]["n"])


async def test_regulatory_events_make_their_tasks_once_even_when_redelivered(
    database_url: str, kafka: Any
) -> None:
    bootstrap = kafka.bootstrap_servers
    b = branch()
    complaint_id = uuid4()
    case = Stream(f"complaint-{complaint_id}", b, at=T0)
    due15, due60 = T0 + timedelta(days=15), T0 + timedelta(days=64)
    actions = [
        RemediationAction(
            action_id=uuid4(),
            description=ref("correct the fee table"),
            owner="ops-1",
            due_at=T0 + timedelta(days=40),
        ),
        RemediationAction(
            action_id=uuid4(),
            description=ref("retrain counter staff"),
            owner="bh-1",
            due_at=T0 + timedelta(days=50),
        ),
    ]
    first: list[Envelope] = [
        case.next(
            ComplaintReceived(
                complaint_id=complaint_id,
                channel=Channel.in_branch,
                customer_ref="cust_ref_0900",
                description=ref("fee charged twice"),
                received_at=T0,
                regulatory_profile="cn-2020",
            )
        ),
        case.next(
            milestone(complaint_id, 10, 15, due15, "decide, or extend to 30 days now"),
            actor="system:sla-clock",
        ),
        case.next(
            ComplaintPutOnHold(
                complaint_id=complaint_id,
                reason=ref("card sent to the card network for testing"),
                kind=HoldKind.external_appraisal,
                at=T0 + timedelta(days=11),
                inform_complainant=True,
                regulatory_clocks_paused=[SLA],
            )
        ),
        case.next(
            ComplaintResumed(
                complaint_id=complaint_id,
                at=T0 + timedelta(days=15),
                note=ref("the network's report arrived"),
                inform_complainant=True,
                regulatory_due_at=T0 + timedelta(days=19),
            )
        ),
        case.next(
            RegulatoryDeadlineExtended(
                complaint_id=complaint_id,
                reason=ref("very complex (approved by bh-1)"),
                limit_days=60,
                extension=2,
                at=T0 + timedelta(days=16),
                requested_by="lm-003",
                approved_by="bh-1",
                due_at=due60,
            ),
            actor="bh-1",
        ),
    ]
    async with running("followup", database_url, bootstrap) as svc:
        await publish(bootstrap, COMPLAINTS, *first)
        await consumed(svc, case)
        open_tasks = {t["kind"]: t for t in await list_tasks(svc, b, "open", kind="regulatory_milestone")}
        assert open_tasks == {}  # the extension met the first warning
        [warning] = await list_tasks(svc, b, "completed", kind="regulatory_milestone")
        assert warning["owner"] is None and warning["due_at"] == iso(due15)
        assert warning["reason"].startswith("decide, or extend to 30 days now")
        assert "branch head" in warning["reason"] and warning["regulatory_sla"] == SLA
        assert "extended to 60 days" in warning["close_rule"] and warning["close_note"] is None

        informs = await list_tasks(svc, b, "open", kind="inform_complainant")
        assert len(informs) == 3
        by_cause = {t["cause_event_id"]: t for t in informs}
        hold, resume, extension = (by_cause[str(e.event_id)] for e in first[2:5])
        assert "external appraisal" in hold["reason"] and "does not count" in hold["reason"]
        assert hold["due_at"] == iso(T0 + timedelta(days=12)) and hold["customer_ref"] == "cust_ref_0900"
        assert "appraisal result arrived" in resume["reason"] and "21 Mar 2026 10:00" in resume["reason"]
        assert "60 days" in extension["reason"] and "5 May 2026 10:00 (Asia/Shanghai)" in extension["reason"]
        assert extension["owner"] == "lm-003"

        # a second warning, then the decision meets the deadline: the warning is done by itself
        later = [
            case.next(
                milestone(complaint_id, 40, 60, due60, "decide now: 60 days is the last limit"),
                actor="system:sla-clock",
            ),
        ]
        await publish(bootstrap, COMPLAINTS, *later)
        [second] = await wait_tasks(svc, b, 1, kind="regulatory_milestone")
        assert second["due_at"] == iso(due60) and second["regulatory_sla"] == SLA
        outcome = ClockOutcome(
            sla=SLA,
            clock="decision",
            profile="cn-2020",
            by="answer",
            started_at=T0,
            limit=60,
            unit=LimitUnit.days,
            due_at=due60,
            counted_days=41.0,
            within_limit=True,
            extensions=2,
        )
        later += [
            case.next(
                ComplaintAnswered(
                    complaint_id=complaint_id,
                    outcome=Outcome.upheld,
                    answer=ref("refunded"),
                    at=T0 + timedelta(days=45),
                    regulatory_outcomes=[outcome],
                )
            ),
            case.next(
                ComplaintClosed(
                    complaint_id=complaint_id,
                    at=T0 + timedelta(days=46),
                    result=ref("refunded"),
                    root_cause=ref("the fee table was wrong"),
                    remediation=ref("correct the fee table; retrain counter staff"),
                    bank_at_fault=True,
                    remediation_actions=actions,
                )
            ),
        ]
        await publish(bootstrap, COMPLAINTS, *later[1:])
        await consumed(svc, case)
        done = await list_tasks(svc, b, "completed", kind="regulatory_milestone")
        assert {t["task_id"] for t in done} == {warning["task_id"], second["task_id"]}
        assert await list_tasks(svc, b, "open", kind="inform_complainant") == []  # the close ended them
        remediation = sorted(await list_tasks(svc, b, "open", kind="remediation"), key=lambda t: t["due_at"])
        assert [(t["owner"], t["due_at"]) for t in remediation] == [
            ("ops-1", iso(actions[0].due_at)),
            ("bh-1", iso(actions[1].due_at)),
        ]
        # the action's words stay with the complaint service: the task refers to them
        assert remediation[0]["about"][0]["text_id"] == str(actions[0].description.text_id)
        assert remediation[0]["about"][0]["status"] == "elsewhere"
        assert [t["kind"] for t in await list_tasks(svc, b, "open")] == ["remediation", "remediation"]
        total = await scheduled_count(svc, b)
        assert total == 8  # progress, 2 warnings, 3 informs, 2 remediation actions (no text task)

        # redelivered twice, and again after the consumer lost its position: nothing new
        everything = first + later
        await publish(bootstrap, COMPLAINTS, *everything, *everything)
        await svc.fetch("DELETE FROM projection_positions WHERE stream_id = $1", case.stream_id)
        await publish(bootstrap, COMPLAINTS, *everything)
        await consumed(svc, case)
        assert await scheduled_count(svc, b) == total
        assert len(await list_tasks(svc, b, "open")) == 2
        rows = await svc.fetch(
            "SELECT count(*) AS n FROM events WHERE branch_id = $1 AND type IN ('FollowUpCompleted', "
            "'FollowUpCancelled')",
            b,
        )
        assert rows[0]["n"] == 6  # 2 warnings completed; progress + 3 informs cancelled at close
