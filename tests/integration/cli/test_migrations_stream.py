"""``branchcare migrations status`` and ``stream show`` against real PostgreSQL; an edited applied
migration stops a service from starting."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import asyncpg
import pytest

from shared.cli.migrations import service_migrations
from shared.migrations import MigrationChecksumError, apply_migrations, checksum, migration_status
from shared.runner import Service, StartupError, create_app
from shared.settings import ServiceSettings
from tests.integration.cli.support import run_cli, run_json
from tests.support.events import make_envelope, migrated_store

#: migrating is what these tests are about: their databases start empty (tests/support/databases.py)
pytestmark = [pytest.mark.integration, pytest.mark.empty_database]


async def test_status_lists_applied_migrations_with_checksums_and_pending_ones(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await apply_migrations(conn, "complaint", service_migrations("complaint"))
    finally:
        await conn.close()

    code, doc = await run_json(capsys, "migrations", "status", "complaint", "--database-url", database_url)
    assert code == 0
    rows = doc["migrations"]
    assert rows and {r["state"] for r in rows} == {"applied"}
    board = next(r for r in rows if r["migration"] == "complaint/0001_board.sql")
    assert board["checksum_applied"] == checksum(Path("services/complaint/migrations/0001_board.sql"))

    # a schema no service has started on: everything pending, exit 3
    code, out = await run_cli(capsys, "migrations", "status", "hq", "--database-url", database_url)
    assert code == 3
    assert "hq/0001_branch_counts.sql" in out and "pending" in out


async def test_an_edited_applied_migration_refuses_to_start(database_url: str, tmp_path: Path) -> None:
    own = tmp_path / "migrations"
    shutil.copytree("services/complaint/migrations", own)
    conn = await asyncpg.connect(database_url)
    try:
        await apply_migrations(conn, "edited", own)
        # rows from before checksums existed get the file's checksum on the next start
        await conn.execute("UPDATE edited.schema_migrations SET checksum = NULL")
        assert await apply_migrations(conn, "edited", own) == []
        assert (
            await conn.fetchval("SELECT count(*) FROM edited.schema_migrations WHERE checksum IS NULL") == 0
        )

        edited = own / "0001_board.sql"
        edited.write_text(edited.read_text() + "\n-- a quiet fix\n")
        with pytest.raises(MigrationChecksumError, match=r"edited/0001_board.sql was edited"):
            await apply_migrations(conn, "edited", own)
        states = {m.name: m.state for m in await migration_status(conn, "edited", own)}
        assert states["0001_board.sql"] == "edited" and states["0002_repeats.sql"] == "applied"
    finally:
        await conn.close()

    service = Service(name="edited", migrations=own, publishes=False)
    settings = ServiceSettings(database_url=database_url, kafka_bootstrap_servers="127.0.0.1:1")
    app = create_app(service, settings)
    with pytest.raises(StartupError, match=r"0001_board.sql was edited after it was applied"):
        async with app.router.lifespan_context(app):
            pass


async def test_stream_show_prints_versions_and_ids_with_texts_as_references(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    stream = f"complaint-{uuid.uuid4()}"
    text_id = uuid.uuid4()
    ref = {"context": "complaint", "text_id": str(text_id), "length": 42, "withheld": False}
    events = [
        make_envelope(stream, 1, data={"n": 1, "description": ref}),
        make_envelope(stream, 2, data={"n": 2, "blob": "call back on 13812345678"}),
    ]
    async with migrated_store(database_url, "complaint") as store:
        await store.append(stream, 0, events)

    code, out = await run_cli(capsys, "stream", "show", stream, "--data", "--database-url", database_url)
    assert code == 0
    assert f"stream {stream} in complaint: 2 event(s)" in out
    assert str(events[0].correlation_id) in out and str(events[1].correlation_id) in out
    assert "ThingHappened (v1)" in out
    assert f"<complaint text {text_id}, 42 chars>" in out
    assert "13812345678" not in out and "*******5678" in out

    code, doc = await run_json(capsys, "stream", "show", stream, "--database-url", database_url)
    shown = doc["services"]["complaint"]
    assert [e["stream_version"] for e in shown] == [1, 2]
    assert shown[0]["data"]["description"] == f"<complaint text {text_id}, 42 chars>"

    code, _ = await run_cli(capsys, "stream", "show", "complaint-nothing", "--database-url", database_url)
    assert code == 1
