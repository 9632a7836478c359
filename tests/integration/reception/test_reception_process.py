"""``python -m services.reception`` as a real process: starts, migrates, serves, stops on SIGTERM."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from shared.logs import JSON_FIELDS
from tests.support.auth import bearer
from tests.support.harness import as_process

#: the process migrates its schema at its start: its database starts empty (tests/support/databases.py)
pytestmark = [pytest.mark.integration, pytest.mark.empty_database]


async def test_the_service_runs_as_a_process(database_url: str, kafka: Any) -> None:
    b = f"b-{uuid.uuid4().hex[:8]}"
    staff = bearer("lm-1", [b])
    correlation = str(uuid.uuid4())
    # its output is a file, not a terminal: JSON lines by default; DEBUG shows the append
    async with as_process(
        "reception", database_url, kafka.bootstrap_servers, env={"LOG_LEVEL": "DEBUG"}, staff=None
    ) as svc:
        http, proc = svc.http, svc.process
        created = await http.post(
            f"/branches/{b}/visits",
            json={"service_type": "enquiry"},
            headers={**staff, "X-Correlation-Id": correlation},
        )
        assert created.status_code == 201 and created.json()["ticket"] == "E001"
        board = (await http.get(f"/branches/{b}/lobby", headers=staff)).json()
        assert [w["ticket"] for w in board["waiting"]] == ["E001"]
        assert (await http.get("/ready")).json()["ready"] is True
        assert "branchcare_reception_queue_length" in (await http.get("/metrics")).text
        assert (await http.get(f"/branches/{b}/lobby")).status_code == 401
    # a graceful stop: uvicorn re-raises SIGTERM after shutting down, hence -15 rather than 0
    assert proc.returncode in (0, -15)
    assert "reception stopped" in proc.log_text()
    check_json_log_lines(proc.log_text(), correlation, created.json()["visit_id"])


def check_json_log_lines(text: str, correlation: str, visit_id: str) -> None:
    """Every line is a JSON object with the fields; the request's lines carry its ids."""
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert len(lines) > 5
    for line in lines:
        assert set(JSON_FIELDS) <= set(line), line
        assert line["service"] == "reception" and line["level"] in ("DEBUG", "INFO", "WARNING", "ERROR")
    appended = [line for line in lines if line["message"].startswith("appended VisitArrived")]
    assert appended, "no append line at DEBUG"
    assert appended[0]["correlation_id"] == correlation
    assert appended[0]["stream_id"].endswith(visit_id)
    assert appended[0]["trace_id"] == ""  # until tracing lands (shared.logs.set_trace_id_source)
    assert not any(line["logger"].startswith("aiokafka") and line["level"] == "INFO" for line in lines)
