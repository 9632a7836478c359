"""The restore drill rebuilds every Kafka-fed read model from the restored event stores and compares
it with the restored one (real PostgreSQL, pg_dump / pg_restore): complaint's, follow-up's and
feedback's customer aliases (a chain A→B→C), follow-up's complaints and feedback's complainants.

The consumers' side is written by the very functions the services' consumers call, with their
``projection_positions``; an event appended to a store after its consumer's position (a consumer
lagging at backup time) is not a difference; a read model that lost a row is, and fails the drill."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import asyncpg
import pytest

from services.complaint.service import SERVICE as COMPLAINT
from services.feedback.service import SERVICE as FEEDBACK
from services.followup.service import SERVICE as FOLLOWUP
from services.hq.config import HqConfig
from services.hq.projections import BranchKpis
from services.hq.regions import Regions
from services.hq.service import SERVICE as HQ
from services.hqfeed.projection import HqFeed
from services.hqfeed.service import SERVICE as HQFEED
from services.reception.service import SERVICE as RECEPTION
from shared.cli.__main__ import build_parser
from shared.clock import SystemClock
from shared.contracts.complaint import Channel, ComplaintReceived
from shared.contracts.customers import CustomersMerged, MergeBasis, customer_stream
from shared.contracts.refs import synthetic_ref
from shared.customer_aliases import follow_merges, same_customer_sql
from shared.envelope import Envelope
from shared.eventstore import EventStore
from shared.migrations import apply_migrations
from shared.projection import EventHandlers
from shared.readmodels.kafka_fed import replays
from shared.readmodels.live import rebuild_live
from shared.readmodels.store_fed import ENVELOPE_COLUMNS, envelope_of, rebuilders
from shared.registry import EventData
from tests.support.events import envelope_of as contract_envelope

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
A, B, C, D = (synthetic_ref(f"drill-{x}") for x in "abcd")
SERVICES = {
    "reception": RECEPTION, "complaint": COMPLAINT, "followup": FOLLOWUP, "feedback": FEEDBACK,
    "hqfeed": HQFEED, "hq": HQ,
}  # fmt: skip


async def cli(*argv: str) -> int:
    args = build_parser().parse_args(list(argv))
    code: int = await args.handler(args)
    return code


def envelope(stream_id: str, version: int, data: EventData, at: datetime) -> Envelope:
    return contract_envelope(
        data, stream_id=stream_id, version=version, branch_id="b001", at=at, actor="staff-test"
    )


def merge(merged: str, survivor: str, at: datetime) -> CustomersMerged:
    return CustomersMerged(survivor_ref=survivor, merged_ref=merged, basis=MergeBasis.same_phone, at=at)


async def append(database_url: str, schema: str, envs: list[Envelope]) -> None:
    pool = await asyncpg.create_pool(
        database_url, min_size=1, max_size=2, server_settings={"search_path": schema}
    )
    try:
        store = EventStore(pool, channel=f"bc_events_{schema}")
        for env in envs:
            await store.append(env.stream_id, env.stream_version - 1, [env])
    finally:
        await pool.close()


async def record_positions(conn: asyncpg.Connection, envs: list[Envelope]) -> None:
    for env in envs:
        await conn.execute(
            """INSERT INTO projection_positions (projection, stream_id, version) VALUES ('test', $1, $2)
               ON CONFLICT (projection, stream_id) DO UPDATE SET version = EXCLUDED.version""",
            env.stream_id,
            env.stream_version,
        )


async def aggregate(database_url: str, envs: list[Envelope]) -> None:
    """What hqfeed and HQ did with ``envs``: the aggregator folds them and appends the contract to
    its own store, HQ applies the contract (their real projections)."""
    pool = await asyncpg.create_pool(
        database_url, min_size=1, max_size=2, server_settings={"search_path": "hqfeed"}
    )
    try:
        feed = HqFeed(
            store=EventStore(pool, channel="bc_events_hqfeed"), tz_of=lambda b: UTC, clock=SystemClock()
        )
        async with pool.acquire() as conn, conn.transaction():
            await feed.apply(conn, envs)
            await record_positions(conn, envs)
            contract = [
                envelope_of(r)
                for r in await conn.fetch(f"SELECT {ENVELOPE_COLUMNS} FROM events ORDER BY position")
            ]
    finally:
        await pool.close()
    assert contract, "the aggregator published nothing"
    config = HqConfig()
    kpis = BranchKpis(
        config=config, regions=Regions.load(config.regions_file), store=None, clock=SystemClock()
    )
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "hq"})
    try:
        async with conn.transaction():
            await kpis.apply(conn, contract)
            await record_positions(conn, contract)
    finally:
        await conn.close()


async def consume(conn: asyncpg.Connection, schema: str, envs: list[Envelope]) -> None:
    """What the schema's consumers did with ``envs``: their writers, and their positions."""
    await conn.execute(f"SET search_path TO {schema}")
    merges = follow_merges(EventHandlers("test", []))
    async with conn.transaction():
        await merges.apply(conn, envs)
        for replay in replays():
            if replay.schema == schema and replay.name != "customer_aliases":
                writers = replay.writers()
                for env in envs:
                    if env.type in writers:
                        await writers[env.type](conn, env, merges.registry.decode(env))
        await record_positions(conn, envs)


async def test_the_drill_rebuilds_the_kafka_fed_read_models_from_the_restored_stores(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("DATABASE_URL", "BRANCHCARE_ERASURE_LOG_URL", "BRANCHCARE_METRICS_TEXTFILE_DIR"):
        monkeypatch.delenv(name, raising=False)
    conn = await asyncpg.connect(database_url)
    try:
        for schema, service in SERVICES.items():
            await apply_migrations(conn, schema, service.migrations)
        t1 = T0 + timedelta(minutes=1)
        merges = [
            envelope(customer_stream(B), 1, merge(A, B, T0), T0),
            envelope(customer_stream(C), 1, merge(B, C, t1), t1),
        ]
        late = envelope(
            customer_stream(C),
            2,
            CustomersMerged(survivor_ref=C, merged_ref=D, basis=MergeBasis.same_phone, at=T0),
            T0,
        )
        complaint_id = uuid4()
        received = envelope(
            f"complaint-{complaint_id}",
            1,
            ComplaintReceived(
                complaint_id=complaint_id, channel=Channel.in_branch, customer_ref=A, received_at=T0
            ),
            T0,
        )
        await append(database_url, "reception", [*merges, late])
        await append(database_url, "complaint", [received])
        [board] = [r for r in rebuilders() if r.schema == "complaint"]
        await rebuild_live(conn, board)  # the board is written with the command
        for schema in ("complaint", "followup", "feedback"):
            await consume(conn, schema, [*merges, received])  # not `late`: the consumers lag
        await aggregate(database_url, [*merges, received])
        await conn.execute("SET search_path TO complaint")
        group = await conn.fetch(f"SELECT ref FROM {same_customer_sql('$1')} s(ref) ORDER BY ref", A)
        assert sorted(r["ref"] for r in group) == sorted([A, B, C])  # A→B then B→C: one customer

        target = [arg for s in SERVICES for arg in ("--database", f"{s}={database_url}")]
        target += ["--dir", str(tmp_path)]
        drill = [*target, "--erasure-log-url", database_url]
        assert await cli("backup", *target) == 0
        capsys.readouterr()
        assert await cli("restore-drill", *drill) == 0
        out = capsys.readouterr().out
        with capsys.disabled():
            print(out)
        for table in (
            "complaint.customer_aliases",
            "complaint.customer_alias_facts",
            "followup.customer_aliases",
            "followup.complaints",
            "feedback.customer_aliases",
            "feedback.complaint_customers",
            "hqfeed.complaints",
            "hqfeed.feed_streams",
            "hq.complaints",
            "hq.branch_complaints",
            "hq.customer_aliases",
        ):
            [line] = [x for x in out.splitlines() if f"rebuild {table} " in x]
            assert " ok " in line and " 0 rows" not in line, line
        assert "not in the backup" not in out and "drill passed" in out
        assert "tables no event store rebuilds" not in out  # every read model was rebuilt

        # a Kafka-fed read model that lost a row no longer equals its sources' stores
        await conn.execute("DELETE FROM feedback.customer_aliases WHERE merged_ref = $1", B)
        assert await cli("backup", *target) == 0
        capsys.readouterr()
        assert await cli("restore-drill", *drill) == 1
        out = capsys.readouterr().out
        [line] = [x for x in out.splitlines() if "rebuild feedback.customer_aliases " in x]
        assert "DIFF" in line and "restored 1 rows / rebuilt 2 rows" in line
        assert "drill FAILED: 1 difference(s)" in out
    finally:
        await conn.close()
