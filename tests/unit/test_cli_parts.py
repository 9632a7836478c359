"""The pure parts of the operator commands: times, ids, topics, masking, tables, the dev stack."""

from __future__ import annotations

import argparse
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import pytest

from shared.cli._common import CliError, database_url, parse_time, table, write_dev_infra
from shared.cli._deadletters import dlq_topics, parse_id
from shared.cli._mask import masked
from shared.topology import CONTEXTS

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def test_times_are_iso_or_relative() -> None:
    assert parse_time("2h", now=NOW) == NOW - timedelta(hours=2)
    assert parse_time("90m", now=NOW) == NOW - timedelta(minutes=90)
    assert parse_time("2026-12-01") == datetime(2026, 12, 1, tzinfo=UTC)
    assert parse_time("2026-12-01T08:00+08:00") == datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    with pytest.raises(argparse.ArgumentTypeError, match="not a time"):
        parse_time("yesterday")


def test_dead_letter_ids_and_topics() -> None:
    assert parse_id("complaint.events.v1.dlq:2:17") == ("complaint.events.v1.dlq", 2, 17)
    with pytest.raises(ValueError, match="TOPIC:PARTITION:OFFSET"):
        parse_id("complaint.events.v1.dlq:x:17")
    assert dlq_topics(["complaint"]) == ["complaint.events.v1.dlq"]
    assert dlq_topics(["complaint.events.v1", "complaint.events.v1.dlq"]) == ["complaint.events.v1.dlq"]
    assert len(dlq_topics()) == len(CONTEXTS) and all(t.endswith(".dlq") for t in dlq_topics())


def test_texts_show_as_references_and_numbers_are_masked() -> None:
    text_id = uuid4()
    data = {
        "note": {"context": "followup", "text_id": str(text_id), "length": 12, "withheld": False},
        "old": {"context": "complaint", "text_id": None, "length": 30, "withheld": True},
        "items": [{"account": "6222 0212 3456 7890"}],
        "count": 3,
    }
    assert masked(data) == {
        "note": f"<followup text {text_id}, 12 chars>",
        "old": "<complaint text, 30 chars, withheld>",
        "items": [{"account": "**** **** **** 7890"}],
        "count": 3,
    }


def test_table_aligns_and_says_when_empty() -> None:
    out = table([{"a": 1, "b": None}, {"a": 22, "b": "x"}], ["a", "b"])
    assert out.splitlines() == ["A   B", "1   -", "22  x"]
    assert table([], ["a"], empty="nothing") == "nothing"


def test_the_running_dev_stack_is_found_and_a_stale_one_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("BRANCHCARE_STATE_DIR", str(tmp_path))
    args = argparse.Namespace(database_url=None)
    with pytest.raises(CliError, match="make run"):
        database_url(args)
    path = write_dev_infra(tmp_path, "postgresql://postgres@127.0.0.1:41234/branchcare", "127.0.0.1:9092")
    assert database_url(args) == "postgresql://postgres@127.0.0.1:41234/branchcare"
    assert database_url(argparse.Namespace(database_url="postgresql://x/y")) == "postgresql://x/y"
    stale = json.loads(path.read_text()) | {"pid": 2**22 + 1}  # above Linux's pid_max default
    path.write_text(json.dumps(stale))
    assert os.path.exists(path)
    with pytest.raises(CliError):
        database_url(args)


async def test_calendar_import_writes_the_files_through_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from shared.cli.__main__ import build_parser

    args = build_parser().parse_args(["calendar", "import", "us-federal", "--dir", str(tmp_path)])
    assert await args.handler(args) == 0
    written = (tmp_path / "us-federal.toml").read_text()
    assert "2026-07-03" in written  # Independence Day 2026 falls on a Saturday: observed on Friday
    assert "us-federal" in capsys.readouterr().out
