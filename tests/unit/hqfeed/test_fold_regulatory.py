"""Folding the complaint service's real regulatory events (the contract models, serialised as the
decider emits them) and follow-up's remediation tasks into HQ's facts — no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import pytest

from services.followup.decider import task_id_for
from services.hq.projections.tables import READ_MODEL_TABLES
from services.hqfeed.facts import BatchChanges, ComplaintFacts, RemediationTask, remediation_task_id
from services.hqfeed.fold import fold_batch
from shared.contracts import complaint as c
from shared.contracts import followup as fu
from shared.contracts.complaint import Channel, ClockOutcome, LimitUnit, RemediationAction
from shared.contracts.followup import TaskKind
from shared.envelope import Envelope
from shared.registry import EventData
from tests.support.events import envelope_of as contract_envelope
from tests.support.texts import ref

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
BRANCH = "cn-sh-001"
DAY = timedelta(days=1)


def tz(_: str) -> tzinfo:
    return ZoneInfo("Asia/Shanghai")


def env(
    data: EventData, at: datetime, *, stream: str = "s", version: int = 1, branch: str = BRANCH
) -> Envelope:
    return contract_envelope(data, stream_id=stream, version=version, branch_id=branch, at=at, actor="lm-007")


def fold(events: list[Envelope], facts: dict[str, ComplaintFacts] | None = None) -> BatchChanges:
    return fold_batch(events, facts=facts or {}, open_breaches=[], tz_of=tz)


def outcome(
    sla: str,
    days: float,
    *,
    limit: int = 15,
    unit: LimitUnit = LimitUnit.days,
    by: str = "answer",
    within: bool = True,
    extensions: int = 0,
) -> ClockOutcome:
    return ClockOutcome(
        sla=sla,
        clock="decision" if sla == "complaint.regulatory" else "review",
        profile="cn-2020",
        by=by,
        started_at=T0,
        limit=limit,
        unit=unit,
        due_at=T0 + limit * DAY,
        counted_days=days,
        within_limit=within,
        extensions=extensions,
    )


def received(cid: UUID, at: datetime = T0) -> Envelope:
    return env(
        c.ComplaintReceived(
            complaint_id=cid,
            channel=Channel.phone_hotline,
            customer_ref="cust_ref_0042",
            description=ref("card swallowed"),
            received_at=at,
            regulatory_profile="cn-2020",
            business_type="credit_card",
        ),
        at,
    )


def answered(cid: UUID, at: datetime, *outcomes: ClockOutcome) -> Envelope:
    data = c.ComplaintAnswered(
        complaint_id=cid,
        outcome=c.Outcome.upheld,
        answer=ref("refunded"),
        at=at,
        regulatory_outcomes=list(outcomes),
    )
    return env(data, at)


def test_decided_within_uses_the_regulatory_counted_days_with_paused_time_excluded() -> None:
    cid = uuid4()
    held = env(
        c.ComplaintPutOnHold(
            complaint_id=cid, reason=ref("appraisal"), kind=c.HoldKind.external_appraisal, at=T0 + DAY
        ),
        T0 + DAY,
    )
    resumed = env(c.ComplaintResumed(complaint_id=cid, at=T0 + 4 * DAY), T0 + 4 * DAY)
    # decided on day 40 after 3 days of appraisal, under a 60-day limit: 37 counted days
    decision = answered(
        cid,
        T0 + 40 * DAY,
        outcome("complaint.regulatory", 37.0, limit=60, extensions=2),
        outcome("complaint.initial_response", 2.0),
    )
    f = fold([received(cid), held, resumed, decision]).complaints[str(cid)]
    assert f.decision_days == 37.0 and f.decision_limit == 60 and f.decided_within_limit is True
    assert f.decision_unit == "days" and f.handling_seconds == 37 * 86400
    # a later decision (after a reopen) does not change the first decision's figure
    reopened = env(
        c.ComplaintReopened(complaint_id=cid, at=T0 + 50 * DAY, reason=ref("again"), cycle=2), T0 + 50 * DAY
    )
    again = answered(cid, T0 + 55 * DAY, outcome("complaint.regulatory", 5.0))
    f = fold([reopened, again], {str(cid): f}).complaints[str(cid)]
    assert f.decision_days == 37.0 and f.cycle == 2


def test_without_a_calendar_day_clock_the_handling_time_counts() -> None:
    business, legacy = uuid4(), uuid4()
    events = [
        received(business),
        answered(
            business,
            T0 + 10 * DAY,
            outcome("complaint.regulatory", 6.0, unit=LimitUnit.business_days, within=False),
        ),
        received(legacy),
        answered(legacy, T0 + 2.5 * DAY),
    ]
    facts = fold(events).complaints
    b, old = facts[str(business)], facts[str(legacy)]
    assert b.decision_days == 10.0 and b.decision_unit == "business_days" and b.decided_within_limit is False
    assert old.decision_days == 2.5 and old.decision_unit is None and old.decided_within_limit is None


def test_extensions_requests_and_reviews_are_counted() -> None:
    cid, request, second = uuid4(), uuid4(), uuid4()
    at = T0 + 10 * DAY
    events = [
        received(cid),
        env(c.RegulatoryDeadlineExtended(complaint_id=cid, reason=ref("complex"), limit_days=30, at=at), at),
        env(
            c.ExtensionRequested(
                complaint_id=cid,
                request_id=request,
                requested_by="lm-007",
                reason=ref("3 banks"),
                limit_days=60,
                extension=2,
                at=at,
            ),
            at,
        ),
        env(
            c.ExtensionDenied(
                complaint_id=cid,
                request_id=request,
                denied_by="head-001",
                requested_by="lm-007",
                reason=ref("not yet"),
                at=at,
            ),
            at,
        ),
        env(
            c.ExtensionRequested(
                complaint_id=cid,
                request_id=second,
                requested_by="lm-007",
                reason=ref("records"),
                limit_days=60,
                extension=2,
                at=at,
            ),
            at,
        ),
        env(
            c.ExtensionApproved(
                complaint_id=cid,
                request_id=second,
                approved_by="head-001",
                requested_by="lm-007",
                limit_days=60,
                at=at,
            ),
            at,
        ),
        env(
            c.RegulatoryDeadlineExtended(
                complaint_id=cid,
                reason=ref("records"),
                limit_days=60,
                extension=2,
                at=at,
                requested_by="lm-007",
                approved_by="head-001",
            ),
            at,
        ),
        # another clock's extension (uk-fca style) is not the decision deadline's
        env(
            c.RegulatoryDeadlineExtended(
                complaint_id=cid,
                reason=ref("holding reply"),
                limit_days=35,
                at=at,
                sla="complaint.initial_response",
            ),
            at,
        ),
        answered(cid, T0 + 20 * DAY, outcome("complaint.regulatory", 20.0, limit=60)),
        env(
            c.ReviewRequested(
                complaint_id=cid,
                at=T0 + 25 * DAY,
                reason=ref("disagree"),
                cycle=2,
                decision_at=T0 + 20 * DAY,
                reviewing_level=c.Level.branch_head,
            ),
            T0 + 25 * DAY,
        ),
        env(
            c.ReviewDecided(
                complaint_id=cid,
                at=T0 + 40 * DAY,
                outcome=c.ReviewOutcome.decision_changed,
                decision=ref("refund"),
                cycle=2,
                regulatory_outcomes=[outcome("complaint.review", 15.0, limit=30, by="review_decision")],
            ),
            T0 + 40 * DAY,
        ),
    ]
    f = fold(events).complaints[str(cid)]
    assert (f.extensions, f.limit_days) == (2, 60)
    assert (f.extensions_requested, f.extensions_approved, f.extensions_denied) == (2, 1, 1)
    assert (f.reviews, f.reviews_decided, f.reviews_changed, f.reviews_upheld, f.reviews_within_limit) == (
        1,
        1,
        1,
        0,
        1,
    )
    assert f.review_outcome == "decision_changed" and f.decision_days == 20.0


def close_with_actions(cid: UUID, at: datetime, *dues: timedelta) -> tuple[Envelope, list[RemediationAction]]:
    actions = [
        RemediationAction(action_id=uuid4(), description=ref(f"fix {i}"), owner=f"owner-{i}", due_at=at + due)
        for i, due in enumerate(dues)
    ]
    data = c.ComplaintClosed(
        complaint_id=cid,
        at=at,
        result=ref("done"),
        root_cause=ref("fee table wrong"),
        remediation=ref("see actions"),
        bank_at_fault=True,
        remediation_actions=actions,
    )
    return env(data, at), actions


def followups(close: Envelope, actions: list[RemediationAction], completed: int) -> list[Envelope]:
    """The follow-up service's events for the actions' tasks (id as follow-up derives it)."""
    cid = close.data["complaint_id"]
    out = []
    for a in actions:
        task = task_id_for(close.event_id, TaskKind.remediation, a.action_id)
        out.append(
            env(
                fu.FollowUpScheduled(
                    task_id=task,
                    kind=TaskKind.remediation,
                    owner=a.owner,
                    due_at=a.due_at,
                    reason="remediation",
                    subject=f"complaint:{cid}",
                    cause_event_id=close.event_id,
                    scheduled_at=close.occurred_at,
                ),
                close.occurred_at,
                stream=f"followup-{task}",
            )
        )
    for a in actions[:completed]:
        task = task_id_for(close.event_id, TaskKind.remediation, a.action_id)
        done = close.occurred_at + 2 * DAY
        out.append(
            env(
                fu.FollowUpCompleted(task_id=task, kind=TaskKind.remediation, at=done),
                done,
                stream=f"followup-{task}",
                version=2,
            )
        )
    return out


def test_remediation_task_ids_are_derived_as_follow_up_derives_them() -> None:
    close, action = uuid4(), uuid4()
    assert remediation_task_id(close, action) == str(task_id_for(close, TaskKind.remediation, action))
    assert remediation_task_id(close) == str(task_id_for(close, TaskKind.remediation))


def _rows(changes: list[BatchChanges]) -> dict[str, RemediationTask]:
    """What the table holds after the batches (the upsert keeps the first value known per column)."""
    table: dict[str, RemediationTask] = {}
    for ch in changes:
        for key, task in ch.remediation.items():
            if key in table:
                table[key].merge(task)
            else:
                table[key] = RemediationTask(**vars(task))
    return table


def test_remediation_rows_are_the_same_whichever_topic_comes_first() -> None:
    cid = uuid4()
    at = T0 + 30 * DAY
    close, actions = close_with_actions(cid, at, 10 * DAY, 20 * DAY)
    tasks = followups(close, actions, completed=1)
    complaint_first = _rows([fold([received(cid), close]), fold(tasks)])
    followup_first = _rows([fold(tasks[::-1]), fold([received(cid)]), fold([close])])
    one_batch = _rows([fold([*tasks, received(cid), close])])
    assert complaint_first == followup_first == one_batch
    first = complaint_first[remediation_task_id(close.event_id, actions[0].action_id)]
    assert first.complaint_id == str(cid) and first.owner == "owner-0" and first.due_at == at + 10 * DAY
    assert first.created_at == at and first.scheduled_at == at and first.followup_due_at == at + 10 * DAY
    assert first.completed_at == at + 2 * DAY and first.cancelled_at is None
    second = complaint_first[remediation_task_id(close.event_id, actions[1].action_id)]
    assert second.completed_at is None


def test_other_follow_up_tasks_are_no_remediation_and_text_only_remediation_is_one_task() -> None:
    cid = uuid4()
    other = fu.FollowUpScheduled(
        task_id=uuid4(),
        kind=TaskKind.progress_update,
        due_at=T0 + DAY,
        reason="update",
        subject=f"complaint:{cid}",
    )
    cancelled = fu.FollowUpCancelled(task_id=uuid4(), kind=TaskKind.callback, reason=ref("closed"), at=T0)
    assert not fold([env(other, T0), env(cancelled, T0)]).remediation
    legacy = env(
        c.ComplaintClosed(
            complaint_id=cid, at=T0, result=ref("ok"), root_cause=ref("x"), remediation=ref("retrain")
        ),
        T0,
    )
    (row,) = fold([received(cid), legacy]).remediation.values()
    assert row.task_id == remediation_task_id(legacy.event_id) and row.due_at is None


def test_the_migration_rebuilds_every_read_model_table() -> None:
    sql = (Path(__file__).parents[3] / "services/hq/migrations/0003_regulatory_report.sql").read_text()
    truncate = sql.split("TRUNCATE", 1)[1].split(";", 1)[0]
    # every table there was then; the alias tables came with 0004 (nothing to rebuild: no merge had
    # been published before it)
    assert {t.strip() for t in truncate.split(",")} == set(READ_MODEL_TABLES) - {
        "customer_aliases",
        "customer_alias_facts",
    }


@pytest.mark.parametrize("subject", ["visit:abc", "complaint:not-a-uuid"])
def test_a_remediation_task_of_no_complaint_keeps_no_complaint_id(subject: str) -> None:
    task = fu.FollowUpScheduled(
        task_id=uuid4(), kind=TaskKind.remediation, due_at=T0, reason="r", subject=subject
    )
    (row,) = fold([env(task, T0)]).remediation.values()
    assert row.complaint_id is None and row.followup_due_at == T0 and row.scheduled_at == T0
