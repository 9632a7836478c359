"""``branchcare relay status`` / ``relay republish`` / ``rebuild`` against a real relay, database
and broker."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from shared import relay as relay_module
from shared.cli.__main__ import build_parser
from shared.devstack import TansuBroker
from shared.eventstore import EventStore
from shared.topology import events_topic
from tests.integration.test_relay import caught_up, running_relay
from tests.support.events import make_envelopes, migrated_store
from tests.support.kafka import read_topic
from tests.support.services import wait_until

pytestmark = pytest.mark.integration

TOPIC = events_topic("complaint")


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[EventStore]:
    async with migrated_store(database_url, "complaint") as store:
        yield store


async def run(*argv: str) -> int:
    args = build_parser().parse_args(list(argv))
    code: int = await args.handler(args)
    return code


async def test_status_then_republish_from_a_position(
    store: EventStore,
    database_url: str,
    private_broker: TansuBroker,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(relay_module, "VERIFY_SECONDS", 0.5)
    bootstrap = private_broker.bootstrap_servers
    for s in range(10):
        await store.append(f"case-{s}", 0, make_envelopes(f"case-{s}", 0, 5, branch_id=f"b{s % 3}"))
    async with running_relay(store, database_url, bootstrap, TOPIC, schema="complaint"):
        await wait_until(lambda: caught_up(store, TOPIC), timeout=20)
        await wait_until(lambda: verified(store), timeout=20, message="the relay never checked the broker")

        assert await run("relay", "status", "--service", "complaint", "--database-url", database_url) == 0
        out = capsys.readouterr().out
        header, row = out.strip().splitlines()
        assert header.split()[:3] == ["service", "store", "head"]
        assert row.split()[:4] == ["complaint", "50", "50", "0"] and " ok " in f" {row} "

        assert (
            await run(
                "relay", "republish", "--service", "complaint", "--from", "99", "--database-url", database_url
            )
            == 2
        ), "beyond the store head"
        code = await run(
            "relay",
            "republish",
            "--service",
            "complaint",
            "--from",
            "41",
            "--wait",
            "--database-url",
            database_url,
        )
        assert code == 0
        assert "10 event(s)" in capsys.readouterr().out
        await wait_until(lambda: caught_up(store, TOPIC), timeout=20)
    records = await read_topic(bootstrap, TOPIC, until=lambda rs: len(rs) >= 60)
    assert len(records) == 60, "the ten events from position 41 on went out a second time"


async def verified(store: EventStore) -> bool:
    async with store.pool.acquire() as conn:
        return await conn.fetchval("SELECT verification = 'ok' FROM relay_checkpoint") is True


async def test_rebuild_says_what_it_cannot_do(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert await run("rebuild", "hqfeed", "--database-url", database_url) == 2
    assert "rebuild hq" in capsys.readouterr().err
    assert await run("rebuild", "hq", "no_such_model", "--database-url", database_url) == 2


async def test_rebuild_hq_starts_a_new_generation(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run("rebuild", "hq", "--database-url", database_url) == 0
    assert await run("rebuild", "hq", "branch_kpis", "--database-url", database_url) == 0
    out = capsys.readouterr().out
    assert "generation 2" in out and "generation 3" in out
