"""``branchcare backup`` and ``restore-drill`` with no database arguments find the ``make run``
stack's embedded PostgreSQL (by its ``postmaster.pid`` in the state directory) and use that
installation's own pg_dump/pg_restore."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from services.reception.service import SERVICE
from shared.cli.__main__ import build_parser
from shared.devstack import ensure_database, start_embedded_postgres
from shared.migrations import apply_migrations


async def cli(*argv: str) -> int:
    args = build_parser().parse_args(list(argv))
    code: int = await args.handler(args)
    return code


async def test_backup_and_drill_of_the_embedded_stack_without_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("DATABASE_URL", "BRANCHCARE_BACKUP_DIR", "BRANCHCARE_METRICS_TEXTFILE_DIR"):
        monkeypatch.delenv(name, raising=False)
    for service in ("RECEPTION", "COMPLAINT", "FOLLOWUP", "FEEDBACK", "HQ"):
        monkeypatch.delenv(f"{service}_DATABASE_URL", raising=False)
    state = tmp_path / "devstack"
    server = start_embedded_postgres(state / "pg", settings={"fsync": "off"})
    try:
        url = await ensure_database(server.url, "branchcare")
        conn = await asyncpg.connect(url)
        try:
            await apply_migrations(conn, "reception", SERVICE.migrations)
        finally:
            await conn.close()
        assert await cli("backup", "--state-dir", str(state)) == 0
        out = capsys.readouterr().out
        assert "branchcare" in out and "store reception" in out
        assert list((state / "backups").glob("*/manifest.json"))
        assert await cli("restore-drill", "--state-dir", str(state)) == 0
        assert "drill passed" in capsys.readouterr().out
    finally:
        server.stop()
