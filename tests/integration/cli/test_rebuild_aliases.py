"""``branchcare rebuild complaint customer_aliases``: the aliases are replayed from reception's topic
on a real broker — merges and a reversal in recorded order, an undecodable record skipped — into a
real PostgreSQL whose alias table lost its rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from services.complaint.service import SERVICE
from shared import customer_aliases
from shared.contracts.customers import CustomerMergeReversed, CustomersMerged, MergeBasis
from shared.contracts.refs import synthetic_ref
from shared.devstack import TansuBroker
from shared.migrations import apply_migrations
from shared.registry import EventData
from shared.topology import events_topic
from tests.integration.cli.test_rebuild_read_models import cli
from tests.support.events import make_envelope

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
A, B, C, D = (synthetic_ref(label) for label in ("alias-a", "alias-b", "alias-c", "alias-d"))


async def aliases(conn: asyncpg.Connection) -> list[tuple[str, str]]:
    rows = await conn.fetch("SELECT merged_ref, survivor_ref FROM complaint.customer_aliases ORDER BY 1, 2")
    return [(r["merged_ref"], r["survivor_ref"]) for r in rows]


async def test_aliases_are_replayed_in_recorded_order(
    database_url: str, private_broker: TansuBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    history: list[EventData] = [
        CustomersMerged(survivor_ref=A, merged_ref=B, basis=MergeBasis.same_phone, at=T0),
        CustomersMerged(
            survivor_ref=C, merged_ref=D, basis=MergeBasis.same_phone, at=T0 + timedelta(minutes=1)
        ),
        CustomerMergeReversed(survivor_ref=C, merged_ref=D, at=T0 + timedelta(minutes=2)),
    ]
    producer = AIOKafkaProducer(bootstrap_servers=private_broker.bootstrap_servers)
    await producer.start()
    try:
        for i, event in enumerate(history, start=1):
            at = T0 + timedelta(minutes=i)
            env = make_envelope(
                f"vault-merge-{i}", 1, type=event.event_type, data=event.model_dump(mode="json"), at=at
            )
            await producer.send_and_wait(events_topic("reception"), env.model_dump_json().encode(), key=b"k")
        await producer.send_and_wait(events_topic("reception"), b"not an envelope", key=b"k")
    finally:
        await producer.stop()
    conn = await asyncpg.connect(database_url)
    try:
        await apply_migrations(conn, "complaint", SERVICE.migrations)
        await conn.execute("SET search_path TO complaint")
        for event in history:  # as complaint's consumer applied them
            assert isinstance(event, CustomersMerged | CustomerMergeReversed)
            await customer_aliases.record_event(conn, event)
        before = await aliases(conn)
        assert before == [(B, A)]
        await conn.execute("DELETE FROM complaint.customer_aliases")
        capsys.readouterr()
        code = await cli(
            "rebuild", "complaint", "customer_aliases",
            "--database-url", database_url, "--bootstrap-servers", private_broker.bootstrap_servers,
        )  # fmt: skip
        out = capsys.readouterr().out
        assert code == 0, out
        assert await aliases(conn) == before
        assert "3 events read, 3 applied, 1 undecodable skipped" in out and "REPAIRED" in out
    finally:
        await conn.close()
