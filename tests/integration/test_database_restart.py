"""A PostgreSQL restart under load: only 201 or a 503 JSON saying what happened, never a 500;
every request's audit row is there afterwards (written late while the server was away); every
201 is in the store.

The test runs its own embedded PostgreSQL (so it may stop and start it) and a real complaint
service process against it; the fault is done from outside (``pg_ctl stop -m fast``, start).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from shared.contracts.refs import synthetic_ref
from shared.dbfaults import NOTHING_RECORDED
from shared.devstack import ensure_database, start_embedded_postgres
from tests.support.auth import lobby_manager
from tests.support.harness import service_process
from tests.support.services import wait_until

pytestmark = pytest.mark.integration

CLIENTS = 4


def _summary(answers: dict[str, tuple[int, dict[str, Any], httpx.Headers]]) -> str:
    seen: dict[str, int] = {}
    for status, payload, _ in answers.values():
        key = f"{status} {payload.get('outcome') or ('' if status < 300 else str(payload)[:120])}"
        seen[key] = seen.get(key, 0) + 1
    return "; ".join(f"{n} x {k}" for k, n in sorted(seen.items(), key=lambda kv: -kv[1])[:6])


async def test_postgresql_restart_answers_503_json_and_loses_no_audit_row(kafka: Any, tmp_path: Path) -> None:
    work = Path(tempfile.mkdtemp(prefix="bc-pg-restart-"))
    server = start_embedded_postgres(work / "data", settings={"fsync": "off"})
    port = server.port
    database_url = await ensure_database(server.url, "bc_restart")
    branch = f"pr-{uuid.uuid4().hex[:6]}"
    staff = lobby_manager(branch, staff_id="agent-pr")
    svc = service_process("complaint", database_url, kafka.bootstrap_servers, log_dir=tmp_path)
    answers: dict[str, tuple[int, dict[str, Any], httpx.Headers]] = {}  # correlation id -> answer
    stop = asyncio.Event()
    transport_errors: list[str] = []

    async def client(n: int, http: httpx.AsyncClient) -> None:
        i = 0
        while not stop.is_set():
            i += 1
            correlation = str(uuid.uuid4())
            body = {
                "channel": "in_branch",
                "customer_ref": synthetic_ref(f"pr-{n}-{i}"),
                "description": "slow",
            }
            try:
                response = await http.post(
                    f"{svc.url}/branches/{branch}/complaints",
                    json=body,
                    headers={**staff, "X-Correlation-Id": correlation},
                )
            except httpx.HTTPError as exc:  # the service itself never goes away here
                transport_errors.append(f"{type(exc).__name__}: {exc}")
                continue
            try:
                payload = response.json()
            except ValueError:
                payload = {"text": response.text[:200]}
            answers[correlation] = (response.status_code, payload, response.headers)
            await asyncio.sleep(0.02)

    try:
        await svc.start(timeout=30)
        async with httpx.AsyncClient(timeout=30) as http:
            load = [asyncio.create_task(client(n, http)) for n in range(CLIENTS)]
            await wait_until(lambda: len(answers) >= 40, timeout=20, message="no load")
            server.stop()
            await asyncio.sleep(1.5)  # requests meet a server that is gone
            server = start_embedded_postgres(work / "data", port=port, settings={"fsync": "off"})
            before = len(answers)
            await wait_until(
                lambda: sum(1 for s, _, _ in list(answers.values())[before:] if s == 201) >= 20,
                timeout=30,
                message=f"commands never came back after the restart: {_summary(answers)}",
            )
            stop.set()
            await asyncio.gather(*load)

        assert not transport_errors, transport_errors[:5]
        statuses = [s for s, _, _ in answers.values()]
        assert set(statuses) <= {201, 503}, sorted(set(statuses))
        unavailable = [(p, h) for s, p, h in answers.values() if s == 503]
        assert unavailable, "the restart was not noticed by any request"
        for payload, headers in unavailable:
            assert headers["content-type"] == "application/json"
            assert headers["retry-after"]
            assert payload["outcome"] in ("nothing_recorded", "outcome_unknown")
            if payload["outcome"] == "nothing_recorded":
                assert payload["detail"] == NOTHING_RECORDED
            assert payload["correlation_id"]

        conn = await asyncpg.connect(database_url)
        try:

            async def all_rows_written() -> bool:
                rows = await conn.fetch("SELECT correlation_id::text AS c FROM complaint.audit_log")
                return set(answers) <= {r["c"] for r in rows}

            await wait_until(all_rows_written, timeout=30, message="audit rows missing after the restart")
            created = {p["complaint_id"] for s, p, _ in answers.values() if s == 201}
            stored = {
                r["stream_id"].removeprefix("complaint-")
                for r in await conn.fetch("SELECT stream_id FROM complaint.events WHERE stream_version = 1")
            }
            assert created <= stored
        finally:
            await conn.close()
        print(f"answers: {len(statuses)}, 503: {len(unavailable)}: {_summary(answers)}")
    finally:
        await svc.terminate()
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
