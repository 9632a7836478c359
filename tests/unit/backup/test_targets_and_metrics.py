"""Where backups find their databases and how their metrics are written (no infrastructure)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shared.backup import textfile
from shared.backup.targets import Database, TargetError, dev_stack_url, parse_assignments, resolve


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    for service in ("RECEPTION", "COMPLAINT", "FOLLOWUP", "FEEDBACK", "HQFEED", "HQ"):
        monkeypatch.delenv(f"{service}_DATABASE_URL", raising=False)


def test_explicit_databases_win_and_services_sharing_one_are_dumped_together() -> None:
    explicit = parse_assignments(["reception=postgresql://a@h1/rec", "hq=postgresql://a@h2/hq"])
    dbs = resolve(explicit, Path("/nonexistent"))
    assert Database("postgresql://a@h1/rec", ("reception",)) in dbs
    assert Database("postgresql://a@h2/hq", ("hq",)) in dbs


def test_the_services_environment_is_used_per_service_then_shared(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h/shared")
    monkeypatch.setenv("HQ_DATABASE_URL", "postgresql://u@hq-host/hq")
    dbs = {db.url: db.schemas for db in resolve({}, Path("/nonexistent"))}
    assert dbs == {
        "postgresql://u@h/shared": ("reception", "complaint", "followup", "feedback", "hqfeed"),
        "postgresql://u@hq-host/hq": ("hq",),
    }


@pytest.mark.parametrize("bad", ["reception", "nobody=postgresql://h/db", "hq=mysql://h/db"])
def test_a_bad_database_option_is_refused_with_the_expected_form(bad: str) -> None:
    with pytest.raises(TargetError, match="SERVICE=postgresql"):
        parse_assignments([bad])


def test_the_make_run_stack_is_found_by_its_postmaster_pid(tmp_path: Path) -> None:
    assert dev_stack_url(tmp_path) is None
    with pytest.raises(TargetError, match="make run"):
        resolve({}, tmp_path)
    (tmp_path / "pg").mkdir()
    (tmp_path / "pg" / "postmaster.pid").write_text(f"{os.getpid()}\n/data\n1700000000\n54321\n")
    assert dev_stack_url(tmp_path) == "postgresql://postgres@127.0.0.1:54321/branchcare"
    [db] = resolve({}, tmp_path)
    assert db.schemas == ("reception", "complaint", "followup", "feedback", "hqfeed", "hq")
    assert db.server_url == "postgresql://postgres@127.0.0.1:54321/postgres"


def test_the_url_shown_never_carries_the_password() -> None:
    assert (
        Database("postgresql://bc:s3cret@db:5432/rec", ("reception",)).describe()
        == "postgresql://db:5432/rec"
    )


def test_a_failed_run_keeps_the_last_success_time(tmp_path: Path) -> None:
    textfile.write_job_metrics(
        tmp_path, "backup", ok=True, at=1000.0, duration=2.0, extra={"last_size_bytes": 5.0}
    )
    path = textfile.write_job_metrics(tmp_path, "backup", ok=False, at=2000.0, duration=1.0)
    text = path.read_text()
    assert "branchcare_backup_last_success_timestamp_seconds 1000.0" in text
    assert "branchcare_backup_last_run_timestamp_seconds 2000.0" in text
    assert "branchcare_backup_last_run_success 0.0" in text


def test_a_job_that_never_succeeded_writes_no_success_time(tmp_path: Path) -> None:
    path = textfile.write_job_metrics(tmp_path, "restore_drill", ok=False, at=50.0, duration=1.0)
    assert "last_success_timestamp_seconds" not in path.read_text()


def test_the_address_the_dev_runner_recorded_wins(tmp_path: Path) -> None:
    (tmp_path / "infra.json").write_text(
        f'{{"database_url": "postgresql://postgres@127.0.0.1:6543/branchcare", "pid": {os.getpid()}}}'
    )
    assert dev_stack_url(tmp_path) == "postgresql://postgres@127.0.0.1:6543/branchcare"
    (tmp_path / "infra.json").write_text('{"database_url": "postgresql://x/y", "pid": 999999999}')
    assert dev_stack_url(tmp_path) is None  # left by a killed runner
