"""``branchcare backup`` and ``restore-drill`` end to end on a real PostgreSQL with a running
reception service: a populated store, a backup, an erasure after it, a drill that restores, re-applies
the erasure log, rebuilds reception's read models and compares; a restored vault started as a
service never serves the erased customer; a read model that no longer follows its events fails it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from shared.backup.take import latest_backup, read_manifest
from shared.backup.targets import Database
from shared.cli.__main__ import build_parser
from shared.devstack import drop_database, ensure_database
from tests.integration.security.vault_steps import (
    ADMIN,
    customer_visit,
    fake_people,
    read_pii,
    ref_of,
    vault_env,
)
from tests.support.harness import Running, running


@pytest_asyncio.fixture(loop_scope="session")
async def svc(database_url: str, kafka: Any, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Running]:
    vault_env(monkeypatch)
    for name in ("DATABASE_URL", "BRANCHCARE_ERASURE_LOG_URL", "BRANCHCARE_METRICS_TEXTFILE_DIR"):
        monkeypatch.delenv(name, raising=False)
    for service in ("RECEPTION", "COMPLAINT", "FOLLOWUP", "FEEDBACK", "HQ"):
        monkeypatch.delenv(f"{service}_DATABASE_URL", raising=False)
    async with running("reception", database_url, kafka.bootstrap_servers, staff=None) as started:
        yield started


async def cli(*argv: str) -> int:
    args = build_parser().parse_args(list(argv))
    code: int = await args.handler(args)
    return code


async def populate(svc: Running) -> tuple[str, str]:
    """Two customers with a visit each; returns (to be erased, kept)."""
    gone, kept = fake_people(2)
    refs = []
    for person in (gone, kept):
        ref = await ref_of(svc, person)
        await customer_visit(svc, ref, "王**")
        refs.append(ref)
    return refs[0], refs[1]


async def test_backup_then_erase_then_drill_keeps_the_customer_erased(
    svc: Running, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    erased, kept = await populate(svc)
    assert await cli("backup", "--database", f"reception={database_url}", "--dir", str(tmp_path)) == 0
    backup = latest_backup(tmp_path)
    assert backup is not None
    manifest = read_manifest(backup)
    [entry] = manifest["databases"]
    assert entry["schemas"] == ["reception"]
    assert entry["stores"]["reception"]["events"] > 0
    assert entry["tables"]["reception.vault_data_keys"]["rows"] == 2
    assert "erasure_log" not in json.dumps(entry["tables"])

    gone = await svc.http.delete(
        f"/customers/{erased}/pii", headers=ADMIN, params={"reason": "customer asked"}
    )
    assert gone.status_code == 200, gone.text
    assert [r["customer_ref"] for r in await svc.fetch("SELECT customer_ref FROM erasure_log.entries")] == [
        erased
    ]

    capsys.readouterr()
    assert await cli("restore-drill", "--database", f"reception={database_url}", "--dir", str(tmp_path)) == 0
    out = capsys.readouterr().out
    print(out)
    assert "erased customers unreadable" in out and "drill passed" in out
    assert "erased customers' texts unreadable (reception)" in out
    assert "rebuild reception.visits" in out and "erasures re-applied to the restored vault: 1" in out
    prom = (tmp_path / "branchcare_restore_drill.prom").read_text()
    assert "branchcare_restore_drill_last_success_timestamp_seconds " in prom
    assert "branchcare_restore_drill_last_differences 0" in prom
    assert (
        "branchcare_backup_last_success_timestamp_seconds "
        in (tmp_path / "branchcare_backup.prom").read_text()
    )
    # the scratch databases are gone
    server = Database(database_url, ("reception",)).server_url
    conn = await asyncpg.connect(server)
    try:
        assert await conn.fetchval("SELECT count(*) FROM pg_database WHERE datname LIKE '%drill%'") == 0
    finally:
        await conn.close()
    assert kept


async def test_a_restored_vault_serves_no_erased_customer_and_audits_the_reapplied_erasure(
    svc: Running, database_url: str, pg_server_url: str, kafka: Any, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    erased, kept = await populate(svc)
    assert await cli("backup", "--database", f"reception={database_url}", "--dir", str(tmp_path)) == 0
    assert (await svc.http.delete(f"/customers/{erased}/pii", headers=ADMIN)).status_code == 200
    backup = latest_backup(tmp_path)
    assert backup is not None
    [entry] = read_manifest(backup)["databases"]

    from shared.backup.drill import restore_into

    name = "bc_test_restored_" + backup.name[:8]
    restored = await ensure_database(pg_server_url, name)
    try:
        await restore_into(restored, backup / entry["file"])
        # the vault as restored still holds the erased customer's key: the danger being tested
        conn = await asyncpg.connect(restored)
        try:
            assert (
                await conn.fetchval(
                    "SELECT count(*) FROM reception.vault_data_keys WHERE customer_ref = $1", erased
                )
                == 1
            )
        finally:
            await conn.close()
        monkeypatch.setenv("BRANCHCARE_ERASURE_LOG_URL", database_url)  # the log lives outside the backup
        async with running("reception", restored, kafka.bootstrap_servers, staff=None) as again:
            assert (await read_pii(again, erased)).status_code == 410
            assert (await read_pii(again, kept)).status_code == 200
            rows = await again.fetch(
                "SELECT staff_id, reason FROM audit_log"
                " WHERE kind = 'pii.erase.reapplied' AND resource_id = $1",
                erased,
            )
            assert len(rows) == 1 and "re-applied from the erasure log" in rows[0]["reason"]
            erasures = await again.fetch("SELECT count(*) AS n FROM events WHERE type = 'CustomerErased'")
            assert erasures[0]["n"] == 1  # the other contexts hear of it again
    finally:
        await drop_database(pg_server_url, name)


async def test_a_read_model_that_does_not_follow_its_events_fails_the_drill(
    svc: Running, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await populate(svc)
    await svc.execute("UPDATE visits SET calls = calls + 7")
    assert await cli("backup", "--database", f"reception={database_url}", "--dir", str(tmp_path)) == 0
    capsys.readouterr()
    assert await cli("restore-drill", "--database", f"reception={database_url}", "--dir", str(tmp_path)) == 1
    out = capsys.readouterr().out
    assert "DIFF" in out and "rebuild reception.visits" in out and "drill FAILED" in out
    prom = (tmp_path / "branchcare_restore_drill.prom").read_text()
    assert "branchcare_restore_drill_last_run_success 0" in prom
    assert "branchcare_restore_drill_last_success_timestamp_seconds" not in prom


async def test_a_corrupted_dump_fails_the_drill(
    svc: Running, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await populate(svc)
    assert await cli("backup", "--database", f"reception={database_url}", "--dir", str(tmp_path)) == 0
    backup = latest_backup(tmp_path)
    assert backup is not None
    dump = next(backup.glob("*.dump"))
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    capsys.readouterr()
    assert await cli("restore-drill", "--database", f"reception={database_url}", "--dir", str(tmp_path)) == 1
    assert "differs from the manifest" in capsys.readouterr().out


async def test_the_erasure_log_is_append_only_and_an_unwritable_log_erases_nothing(svc: Running) -> None:
    erased, kept = await populate(svc)
    assert (await svc.http.delete(f"/customers/{erased}/pii", headers=ADMIN)).status_code == 200
    for statement in ("DELETE FROM erasure_log.entries", "UPDATE erasure_log.entries SET actor = 'x'",
                      "TRUNCATE erasure_log.entries"):  # fmt: skip
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await svc.execute(statement)
    await svc.execute("ALTER TABLE erasure_log.entries RENAME TO entries_away")
    try:
        refused = await svc.http.delete(f"/customers/{kept}/pii", headers=ADMIN)
        assert refused.status_code == 503 and refused.json()["code"] == "erasure_log_unavailable"
        assert (await read_pii(svc, kept)).status_code == 200  # nothing shredded unlogged
    finally:
        await svc.execute("ALTER TABLE erasure_log.entries_away RENAME TO entries")
    assert (await svc.http.delete(f"/customers/{kept}/pii", headers=ADMIN)).status_code == 200


async def test_a_new_consent_after_an_erasure_survives_the_start_up_reapply(
    svc: Running, database_url: str, kafka: Any
) -> None:
    [person] = fake_people(1)
    ref = await ref_of(svc, person)
    assert (await svc.http.delete(f"/customers/{ref}/pii", headers=ADMIN)).status_code == 200
    assert (await read_pii(svc, ref)).status_code == 410
    svc.clock.advance(timedelta(minutes=5))
    assert await ref_of(svc, person) == ref  # registered again: a new consent, a fresh data key
    async with running(
        "reception", database_url, kafka.bootstrap_servers, clock=svc.clock, staff=None
    ) as again:  # start-up re-apply
        assert (await read_pii(again, ref)).status_code == 200
        assert await again.fetch("SELECT 1 FROM audit_log WHERE kind = 'pii.erase.reapplied'") == []
