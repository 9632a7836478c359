"""Upgrading a database whose read model already holds data: migration 0003 empties the read model
and starts a new generation (the new facts exist only in the events); a fresh database keeps
generation 1."""

from __future__ import annotations

import shutil
from pathlib import Path

import asyncpg
import pytest

from services.hq.service import SERVICE
from shared.migrations import apply_migrations

#: migrating is what these tests are about: their databases start empty (tests/support/databases.py)
pytestmark = [pytest.mark.integration, pytest.mark.empty_database]


async def test_migration_0003_rebuilds_a_populated_read_model(database_url: str, tmp_path: Path) -> None:
    assert SERVICE.migrations is not None
    old = tmp_path / "migrations"
    old.mkdir()
    for name in ("0001_branch_counts.sql", "0002_read_model.sql"):
        shutil.copy(SERVICE.migrations / name, old / name)
    conn = await asyncpg.connect(database_url)
    try:
        await apply_migrations(conn, "hq", old)
        await conn.execute("SET search_path TO hq")
        await conn.execute(
            "INSERT INTO projection_positions (projection, stream_id, version) VALUES ('branch_kpis', 's', 3)"
        )
        await conn.execute(
            "INSERT INTO branches (branch_id, first_event_at, last_event_at) VALUES ('b1', now(), now())"
        )
        await conn.execute("UPDATE read_model_state SET caught_up_at = now()")
        applied = await apply_migrations(conn, "hq", SERVICE.migrations)
        assert applied == [
            "hq/0003_regulatory_report.sql",
            "hq/0004_customer_aliases.sql",
            "hq/0005_survey_delivery.sql",
        ]
        state = await conn.fetchrow("SELECT * FROM read_model_state")
        assert state is not None
        assert state["generation"] == 2 and state["caught_up_at"] is None
        assert state["requested_by"] == "migration 0003_regulatory_report"
        assert await conn.fetchval("SELECT count(*) FROM branches") == 0
        assert await conn.fetchval("SELECT count(*) FROM projection_positions") == 0
    finally:
        await conn.close()


async def test_a_fresh_database_keeps_generation_1(database_url: str) -> None:
    assert SERVICE.migrations is not None
    conn = await asyncpg.connect(database_url)
    try:
        await apply_migrations(conn, "hq", SERVICE.migrations)
        assert await conn.fetchval("SELECT generation FROM hq.read_model_state") == 1
    finally:
        await conn.close()
