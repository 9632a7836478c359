from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from shared.sla.deadlines import Deadline, schedule
from shared.sla.policy import PolicyBook, parse_duration


def test_parse_duration() -> None:
    assert parse_duration("30m") == timedelta(minutes=30)
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("15d") == timedelta(days=15)
    assert parse_duration(20) == timedelta(seconds=20)
    with pytest.raises(ValueError, match="bad duration"):
        parse_duration("soon")


def test_default_file_has_every_sla_of_the_design() -> None:
    book = PolicyBook.load()
    assert book.policy("complaint.acknowledge").duration == timedelta(minutes=30)
    assert book.policy("complaint.resolve").duration == timedelta(hours=24)
    assert book.policy("complaint.regulatory").duration == timedelta(days=15)
    assert book.policy("complaint.progress_update").duration == timedelta(hours=24)
    wait = book.policy("reception.wait")
    assert wait.duration == timedelta(minutes=30)
    assert wait.duration * wait.at_risk_fraction == timedelta(minutes=15)
    assert book.policy("feedback.survey_window").duration == timedelta(hours=72)
    assert book.calendar("any-branch").timezone == "Asia/Shanghai"


def test_branch_override_and_errors() -> None:
    doc = {
        "sla": {"reception.wait": {"duration": "30m", "at_risk_fraction": 0.5}},
        "calendars": {"default": {"mon": ["09:00-17:00"]}, "late": {"mon": ["12:00-20:00"]}},
        "branches": {"b7": {"calendar": "late", "sla": {"reception.wait": {"duration": "20m"}}}},
    }
    book = PolicyBook.from_dict(doc)
    assert book.policy("reception.wait", "b7").duration == timedelta(minutes=20)
    assert book.policy("reception.wait", "b7").at_risk_fraction == 0.5
    assert book.policy("reception.wait", "b1").duration == timedelta(minutes=30)
    assert book.calendar("b7").name == "late"
    with pytest.raises(ValueError, match="unknown SLA"):
        PolicyBook.from_dict({"sla": {}, "branches": {"b": {"sla": {"nope": {"duration": "1m"}}}}})
    with pytest.raises(KeyError, match="no SLA policy"):
        book.policy("nope")


def _deadline(**kw: object) -> Deadline:
    start = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
    base = dict(
        deadline_id=uuid4(),
        subject_type="complaint",
        subject_id="c1",
        stream_id="complaint-c1",
        branch_id="b1",
        sla="complaint.regulatory",
        policy="default",
        rule="",
        counting="calendar",
        duration=timedelta(days=15),
        milestones=(0.6667, 0.8),
        started_at=start,
        pauses=(),
        state="running",
        due_at=None,
        fired=(),
        next_fire_at=None,
        next_fire_kind=None,
        ended_at=None,
    )
    base.update(kw)
    return Deadline(**base)  # type: ignore[arg-type]


def test_schedule_walks_the_milestones_in_order() -> None:
    book = PolicyBook.load()
    d = schedule(_deadline(), book)
    start = d.started_at
    assert d.due_at == start + timedelta(days=15)
    assert d.next_fire_kind == "at_risk:0.6667"
    assert d.next_fire_at == start + timedelta(days=15) * 0.6667
    d = schedule(_deadline(fired=("at_risk:0.6667",)), book)
    assert d.next_fire_kind == "at_risk:0.8"
    d = schedule(_deadline(fired=("at_risk:0.6667", "at_risk:0.8")), book)
    assert (d.next_fire_kind, d.next_fire_at) == ("breached", start + timedelta(days=15))
    d = schedule(_deadline(fired=("at_risk:0.6667", "at_risk:0.8", "breached"), state="breached"), book)
    assert d.next_fire_at is None
    assert d.status() == "breached"


def test_a_pause_moves_every_milestone_by_the_paused_time() -> None:
    book = PolicyBook.load()
    start = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
    pause = (start + timedelta(days=2), start + timedelta(days=5))
    d = schedule(_deadline(pauses=(pause,)), book)
    assert d.due_at == start + timedelta(days=18)
    assert d.next_fire_at == start + timedelta(days=15) * 0.6667 + timedelta(days=3)
