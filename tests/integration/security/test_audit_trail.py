"""Issue 15/14: a command's audit row commits in the command's own transaction (never one without
the other), and requests that commit nothing still get their row — late if PostgreSQL is down,
none lost across a PostgreSQL restart (a real server this test owns, stopped and started again)."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import asyncpg
import httpx
import pytest

from shared.audit import AUDIT_WRITES, AuditEntry, AuditWriter
from shared.clock import SystemClock
from shared.devstack import EmbeddedPostgres, ensure_database, start_embedded_postgres
from tests.integration.security.seeds import (
    quiet_background,
    seeded,
)
from tests.support.auth import bearer
from tests.support.harness import Running, running
from tests.support.services import wait_until

pytestmark = pytest.mark.integration

CREATE = "/branches/{branch_id}/complaints"
ALL_ROWS = (
    "SELECT correlation_id::text AS c, status FROM complaint.audit_log WHERE correlation_id IS NOT NULL"
)


def _body(description: str = "card swallowed") -> dict[str, Any]:
    return {"channel": "phone_hotline", "customer_ref": "cust_ref_0042", "description": description}


async def _rows(svc: Running, correlation: str) -> list[asyncpg.Record]:
    async with svc.ctx.pool.acquire() as conn:
        rows: list[asyncpg.Record] = await conn.fetch(
            "SELECT *, xmin::text AS xid FROM audit_log WHERE correlation_id = $1 ORDER BY audit_id",
            correlation,
        )
        return rows


async def test_a_command_and_its_audit_row_commit_together(
    database_url: str, kafka: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    quiet_background(monkeypatch)
    async with seeded("complaint", database_url, kafka.bootstrap_servers) as svc:
        staff = bearer("audit-1", [svc.params["branch_id"]])
        path = CREATE.format(branch_id=svc.params["branch_id"])

        # committed: one row, written by the command's transaction, naming the new case
        correlation = str(uuid4())
        created = await svc.http.post(path, json=_body(), headers={**staff, "X-Correlation-Id": correlation})
        assert created.status_code == 201
        (row,) = await _rows(svc, correlation)
        assert (row["status"], row["route"], row["resource_id"]) == (
            201,
            CREATE,
            created.json()["complaint_id"],
        )
        async with svc.ctx.pool.acquire() as conn:
            tx = await conn.fetchval(
                "SELECT (tx_id::text::bigint % 4294967296)::text FROM events WHERE correlation_id = $1",
                correlation,
            )
        assert row["xid"] == tx, "the audit row was written by the command's own transaction"

        async with svc.ctx.pool.acquire() as conn:
            await conn.execute(
                """CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
                   BEGIN RAISE EXCEPTION 'refused by the test'; END $$;
                   -- the audit row of a successful create cannot be written ...
                   CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log FOR EACH ROW
                       WHEN (NEW.status = 201 AND NEW.resource_id IS NOT NULL
                             AND NEW.branch_id LIKE '%-a' AND NEW.route LIKE '%complaints'
                             AND NEW.staff_id = 'audit-2')
                       EXECUTE FUNCTION refuse();
                   -- ... or the command's transaction fails at COMMIT, after its audit row (the
                   -- event carries a reference to the description, issue 15: matched by length)
                   CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER INSERT ON events
                       DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
                       WHEN (NEW.data->'description'->>'length' = '31') EXECUTE FUNCTION refuse();"""
            )
        events = "SELECT count(*) FROM events WHERE type = 'ComplaintReceived' AND branch_id = $1"
        async with svc.ctx.pool.acquire() as conn:
            before = await conn.fetchval(events, svc.params["branch_id"])

        # no command without its audit row: the row cannot be written, so the case is not either
        correlation = str(uuid4())
        refused = await svc.http.post(
            path,
            json=_body(),
            headers={**bearer("audit-2", [svc.params["branch_id"]]), "X-Correlation-Id": correlation},
        )
        assert refused.status_code == 500
        assert [(r["status"], r["staff_id"]) for r in await _rows(svc, correlation)] == [(500, "audit-2")]

        # no audit row without its command: the commit fails, the row written before it is gone
        correlation = str(uuid4())
        failed = await svc.http.post(
            path,
            json=_body("fail at commit: 31 characters ."),
            headers={**staff, "X-Correlation-Id": correlation},
        )
        assert failed.status_code == 500
        assert [r["status"] for r in await _rows(svc, correlation)] == [500]
        async with svc.ctx.pool.acquire() as conn:
            assert await conn.fetchval(events, svc.params["branch_id"]) == before


# ---------------------------------------------------------------------- a PostgreSQL restart


@pytest.fixture
async def own_postgres() -> AsyncIterator[tuple[EmbeddedPostgres, Path]]:
    work = Path(tempfile.mkdtemp(prefix="bc-audit-pg-"))
    server = start_embedded_postgres(work / "data", settings={"fsync": "off"})
    try:
        yield server, work
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def _metric(outcome: str) -> float:
    return AUDIT_WRITES.labels("complaint", outcome)._value.get()


async def test_no_audit_row_is_lost_across_a_postgresql_restart(
    own_postgres: tuple[EmbeddedPostgres, Path], kafka: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    quiet_background(monkeypatch)
    server, work = own_postgres
    url = await ensure_database(server.url, "bc_audit")
    branch = f"ar-{uuid4().hex[:6]}"
    staff = bearer("audit-3", [branch])
    path = CREATE.format(branch_id=branch)
    sent: dict[str, int] = {}
    slowest = 0.0
    queued_before, late_before = _metric("queued"), _metric("late")

    async def send(http: httpx.AsyncClient, body: dict[str, Any], headers: dict[str, str]) -> int:
        nonlocal slowest
        correlation = str(uuid4())
        started = time.monotonic()
        response = await http.post(path, json=body, headers={**headers, "X-Correlation-Id": correlation})
        slowest = max(slowest, time.monotonic() - started)
        sent[correlation] = response.status_code
        return response.status_code

    async with running(
        "complaint", url, kafka.bootstrap_servers, clock=SystemClock(), staff=None, timeout=30
    ) as svc:
        http = svc.http
        assert await send(http, _body(), staff) == 201
        server.stop()  # PostgreSQL goes away under the running service
        during = [await send(http, _body(), staff) for _ in range(4)]
        during += [await send(http, {"channel": "fax"}, staff), await send(http, _body(), {})]
        assert all(status >= 400 for status in during), during
        outage_slowest = slowest
        assert svc.ctx and _metric("queued") - queued_before >= len(during)

        restarted = start_embedded_postgres(work / "data", port=server.port, settings={"fsync": "off"})
        try:

            async def all_written() -> bool:
                try:
                    conn = await asyncpg.connect(url, timeout=2)
                except (OSError, asyncpg.PostgresError):
                    return False
                try:
                    rows = await conn.fetch(ALL_ROWS)
                finally:
                    await conn.close()
                return {r["c"] for r in rows} >= set(sent)

            await wait_until(all_written, timeout=60, interval=0.5)
            assert await send(http, _body(), staff) == 201, "commands are back"
            conn = await asyncpg.connect(url)
            try:
                rows = await conn.fetch(ALL_ROWS)
            finally:
                await conn.close()
        finally:
            restarted.stop()
    by_request = {r["c"]: r["status"] for r in rows}
    assert by_request == sent, "every request has its row, with the status it answered"
    assert _metric("late") - late_before >= len(during)
    assert outage_slowest < 5.0, f"a request waited {outage_slowest:.1f} s during the outage"


async def test_the_queue_is_bounded_and_drops_are_counted() -> None:
    """PostgreSQL unreachable (nothing listens): rows queue up to the bound, the rest are counted
    as dropped; nobody waits longer than the write timeout."""
    from tests.support.services import free_port

    pool = await asyncpg.create_pool(
        f"postgresql://postgres@127.0.0.1:{free_port()}/x", min_size=0, max_size=1
    )
    writer = AuditWriter("bounded-test", max_queued=3, timeout=0.5, backoff=(60.0,))
    entry = AuditEntry(at=SystemClock().now(), service="bounded-test", kind="command", staff_id="s-1")
    dropped = AUDIT_WRITES.labels("bounded-test", "dropped")._value.get()
    started = time.monotonic()
    try:
        for _ in range(5):
            await writer.submit(pool, entry)
        assert time.monotonic() - started < 2.0
        assert len(writer.queue) == 3
        assert AUDIT_WRITES.labels("bounded-test", "dropped")._value.get() - dropped == 2
        await writer.drain(timeout=0.5)  # still unreachable: logged, not raised
    finally:
        await pool.close()
    await asyncio.sleep(0)
