"""``branchcare rebuild SERVICE READ_MODEL`` on real PostgreSQL (and the real broker for the
Kafka-fed case): a running service's read model is corrupted (rows deleted), the command rebuilds
it, and the read model equals what it was — without appending an event or requesting a survey."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from shared.cli.__main__ import build_parser
from tests.integration.security.seeds import (
    _staff,
    quiet_background,
    seeded,
)
from tests.support.harness import Running
from tests.support.services import wait_until

pytestmark = pytest.mark.integration

#: service → (read model, its tables)
STORE_FED = {
    "reception": ("lobby", ("visits", "calls", "counters")),
    "complaint": ("board", ("complaint_board",)),
    "followup": ("tasks", ("tasks",)),
    "feedback": ("survey_facts", ("survey_facts",)),
}


async def cli(*argv: str) -> int:
    args = build_parser().parse_args(list(argv))
    code: int = await args.handler(args)
    return code


async def branch_rows(svc: Running, table: str, branch: str | None = None) -> tuple[int, str]:
    """Count and checksum of the table's rows of the test's branch (other tests share the schema),
    without ``updated_at`` (the wall clock of the last write, which a rebuild cannot give back)."""
    async with svc.ctx.pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL TimeZone = 'UTC'")
        row = await conn.fetchrow(
            f"""SELECT count(*) AS n, coalesce(md5(string_agg(h, '' ORDER BY h)), '') AS s
                FROM (SELECT md5((to_jsonb(t) - 'updated_at')::text) AS h
                      FROM {svc.name}.{table} t WHERE branch_id = $1) x""",
            branch or svc.params["branch_id"],
        )
        assert row is not None
        return int(row["n"]), str(row["s"])


async def event_count(svc: Running, branch: str | None = None) -> int:
    """Events of ``branch`` (default: all) in the service's store."""
    async with svc.ctx.pool.acquire() as conn:
        sql = f"SELECT count(*) FROM {svc.name}.events WHERE $1::text IS NULL OR branch_id = $1"
        return int(await conn.fetchval(sql, branch))


@pytest.mark.parametrize("name", sorted(STORE_FED))
async def test_a_corrupted_store_fed_read_model_is_rebuilt_equal(
    name: str,
    database_url: str,
    private_broker: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """On a broker of its own: on the session's, a new service reacts to other tests' events from
    the topics' start (appending to its store while the "nothing appended" check runs)."""
    quiet_background(monkeypatch)
    read_model, tables = STORE_FED[name]
    async with seeded(name, database_url, private_broker.bootstrap_servers) as svc:
        before = {t: await branch_rows(svc, t) for t in tables}
        assert any(n for n, _ in before.values()), before  # the seed wrote rows
        events = await settled_event_count(svc)
        async with svc.ctx.pool.acquire() as conn:
            for table in tables:
                await conn.execute(
                    f"DELETE FROM {name}.{table} WHERE branch_id = $1", svc.params["branch_id"]
                )
        assert [await branch_rows(svc, t) for t in tables] == [(0, "")] * len(tables)
        capsys.readouterr()
        assert await cli("rebuild", name, read_model, "--database-url", database_url) == 0
        out = capsys.readouterr().out
        assert {t: await branch_rows(svc, t) for t in tables} == before
        assert "REPAIRED" in out and f"{name} {read_model}: rebuilt from the event store" in out
        assert await event_count(svc) == events  # nothing appended
        # a second run finds nothing to repair (unless another test left the shared schema's rows
        # of another branch drifted: the first run repaired those too)
        assert await cli("rebuild", name, read_model, "--database-url", database_url) == 0
        assert "REPAIRED" not in capsys.readouterr().out


async def test_a_kafka_fed_read_model_is_replayed_without_reactions(
    database_url: str,
    private_broker: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """feedback's ``complaint_customers`` (from complaint's topic): rebuilt from the topic while
    feedback runs; no survey is requested, nothing is appended to feedback's store. On a broker of
    its own, as the store-fed case."""
    quiet_background(monkeypatch)
    kafka = private_broker
    async with (
        seeded("feedback", database_url, kafka.bootstrap_servers) as feedback,
        seeded("complaint", database_url, kafka.bootstrap_servers) as complaint,
    ):
        await wait_until(
            lambda: _has(feedback, complaint.params["branch_id"], 2),
            timeout=30,
            message="feedback learned one complaint",
        )
        before = await branch_rows(feedback, "complaint_customers", complaint.params["branch_id"])
        events = await settled_event_count(feedback)
        async with feedback.ctx.pool.acquire() as conn:
            await conn.execute(
                "DELETE FROM feedback.complaint_customers WHERE branch_id = $1", complaint.params["branch_id"]
            )
            dispatch = await conn.fetchval("SELECT count(*) FROM feedback.survey_dispatch")
        capsys.readouterr()
        code = await cli(
            "rebuild", "feedback", "complaint_customers",
            "--database-url", database_url, "--bootstrap-servers", kafka.bootstrap_servers,
        )  # fmt: skip
        out = capsys.readouterr().out
        assert code == 0, out
        assert await branch_rows(feedback, "complaint_customers", complaint.params["branch_id"]) == before
        assert "REPAIRED" in out and "replayed complaint.events.v1" in out
        assert await event_count(feedback) == events
        async with feedback.ctx.pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM feedback.survey_dispatch") == dispatch


async def settled_event_count(svc: Running, quiet: float = 1.5, timeout: float = 60) -> int:
    """``event_count`` once it stopped growing for ``quiet`` seconds (the seed's own reactions)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    count, since = await event_count(svc), loop.time()
    while loop.time() - since < quiet:
        assert loop.time() < deadline, f"{svc.name}'s store kept growing for {timeout:.0f} s"
        await asyncio.sleep(0.25)
        now = await event_count(svc)
        if now != count:
            count, since = now, loop.time()
    return count


async def _has(svc: Running, branch: str, n: int) -> bool:
    count, _ = await branch_rows(svc, "complaint_customers", branch)
    return count >= n


async def test_list_and_refusals(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert await cli("rebuild", "--list") == 0
    listed = capsys.readouterr().out
    for service in ("reception", "complaint", "followup", "feedback", "hqfeed", "hq"):
        assert f"\n{service:<10} " in "\n" + listed
    assert await cli("rebuild", "hqfeed", "--database-url", database_url) == 2
    assert "rebuild hq" in capsys.readouterr().err  # says an HQ rebuild must follow
    assert await cli("rebuild", "feedback", "survey_dispatch", "--database-url", database_url) == 2
    assert "SMS" in capsys.readouterr().err
    assert await cli("rebuild", "hq", "no_such_model", "--database-url", database_url) == 2


async def test_complaint_departures_are_replayed_from_receptions_topic(
    database_url: str, kafka: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """complaint's ``visit_departures`` (reception's ``VisitLeft``): rebuilt while complaint runs,
    no case event appended."""
    quiet_background(monkeypatch)
    async with (
        seeded("complaint", database_url, kafka.bootstrap_servers) as complaint,
        seeded("reception", database_url, kafka.bootstrap_servers) as reception,
    ):
        visit = reception.params["visit_id"]
        left = await reception.http.post(f"/visits/{visit}/leave", json={}, headers=_staff(reception))
        assert left.status_code == 200, left.text

        async def departed() -> bool:
            n, _ = await branch_rows(complaint, "visit_departures", reception.params["branch_id"])
            return n >= 1

        await wait_until(departed, timeout=30, message="complaint never saw the visit leave")
        before = await branch_rows(complaint, "visit_departures", reception.params["branch_id"])
        events = await event_count(complaint, reception.params["branch_id"])
        async with complaint.ctx.pool.acquire() as conn:
            await conn.execute(
                "DELETE FROM complaint.visit_departures WHERE branch_id = $1", reception.params["branch_id"]
            )
        capsys.readouterr()
        code = await cli(
            "rebuild", "complaint", "departures",
            "--database-url", database_url, "--bootstrap-servers", kafka.bootstrap_servers,
        )  # fmt: skip
        out = capsys.readouterr().out
        assert code == 0, out
        assert await branch_rows(complaint, "visit_departures", reception.params["branch_id"]) == before
        assert "REPAIRED" in out and "replayed reception.events.v1" in out
        assert (
            await event_count(complaint, reception.params["branch_id"]) == events
        )  # no case opened or touched


async def test_a_rebuild_waits_for_running_commands_then_gives_up_changing_nothing(
    database_url: str, kafka: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A command's transaction holding the lobby (as a long command would) makes the rebuild wait
    ``--lock-timeout``, then stop with nothing changed; once it committed, the rebuild runs."""
    quiet_background(monkeypatch)
    async with seeded("reception", database_url, kafka.bootstrap_servers) as svc:
        before = await branch_rows(svc, "visits")
        async with svc.ctx.pool.acquire() as held, held.transaction():
            await held.execute(
                "UPDATE reception.visits SET version = version WHERE branch_id = $1", svc.params["branch_id"]
            )
            capsys.readouterr()
            argv = ("rebuild", "reception", "lobby", "--database-url", database_url, "--lock-timeout", "0.5")
            assert await cli(*argv) == 1
            assert "nothing changed" in capsys.readouterr().err
        assert await branch_rows(svc, "visits") == before
        assert await cli(*argv) == 0
        assert "reception lobby: rebuilt from the event store" in capsys.readouterr().out
