"""The PostgreSQL event store against a real server: order, optimistic concurrency, late commits."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable

import pytest

from shared.envelope import Envelope
from shared.event_rows import EventTooLarge
from shared.eventstore import LOG_START, ConcurrencyError, EventStore, LogPosition, StoredEvent
from tests.support.events import connect, make_envelope, make_envelopes, migrated_store
from tests.support.services import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[EventStore]:
    async with migrated_store(database_url, max_size=40) as store:
        yield store


async def readable(store: EventStore, after: LogPosition, count: int) -> list[StoredEvent]:
    """Read after ``after`` once ``count`` events are readable.

    The horizon is cluster-wide: a write transaction open in ANY database of the server (another
    test run, say) holds back everything younger, so "readable now" can take a moment.
    """
    events = await wait_until(
        lambda: _at_least(store.read_all_after(after), count),
        timeout=30,
        interval=0.01,
        message="never readable",
    )
    assert events is not None
    return events


async def _at_least(read: Awaitable[list[StoredEvent]], count: int) -> list[StoredEvent] | None:
    events = await read
    assert len(events) <= count, f"read {len(events)} events, expected {count}"
    return events if len(events) == count else None


def ids(events: list[StoredEvent]) -> list[str]:
    return [Envelope.model_validate_json(e.json).stream_id for e in events]


# ---------------------------------------------------------------------------- append and read


async def test_append_then_read_the_stream_in_order(store: EventStore) -> None:
    first = make_envelopes("case-1", 0, 2)
    more = make_envelopes("case-1", 2, 3)
    assert await store.append("case-1", 0, first) == 2
    await store.append("other", 0, make_envelopes("other", 0, 1))
    assert await store.append("case-1", 2, more) == 5

    stream = await store.read_stream("case-1")
    assert [e.stream_version for e in stream] == [1, 2, 3, 4, 5]
    assert [e.event_id for e in stream] == [e.event_id for e in first + more]
    back, sent = stream[0], first[0]
    assert back.model_dump(exclude={"data"}) == sent.model_dump(exclude={"data"}), "what went in comes back"
    assert back.data["n"] == sent.data["n"]

    log = await readable(store, LOG_START, 6)
    assert [e.position for e in log] == sorted(e.position for e in log)
    assert ids(log) == ["case-1", "case-1", "other", "case-1", "case-1", "case-1"]
    rest = await readable(store, log[2].log_position, 3)
    assert [e.position for e in rest] == [e.position for e in log[3:]]
    assert await store.read_stream("nobody") == []


async def test_append_checks_the_versions_it_is_given(store: EventStore) -> None:
    with pytest.raises(ValueError, match="expected"):
        await store.append("case-1", 0, [make_envelope("case-1", 2)])
    with pytest.raises(ValueError, match="expected"):
        await store.append("case-1", 0, [make_envelope("case-2", 1)])
    with pytest.raises(EventTooLarge):
        await store.append("case-1", 0, [make_envelope("case-1", 1, data={"blob": "x" * 70_000})])
    assert await store.read_stream("case-1") == []


# ------------------------------------------------------------------------ optimistic concurrency


async def test_stale_expected_version_is_refused(store: EventStore) -> None:
    await store.append("case-1", 0, make_envelopes("case-1", 0, 2))

    with pytest.raises(ConcurrencyError) as stale:
        await store.append("case-1", 1, make_envelopes("case-1", 1, 1))
    assert (stale.value.expected_version, stale.value.actual_version) == (1, 2)
    with pytest.raises(ConcurrencyError):
        await store.append("case-1", 0, make_envelopes("case-1", 0, 1))
    with pytest.raises(ConcurrencyError):  # ahead of the stream is just as wrong
        await store.append("case-1", 5, make_envelopes("case-1", 5, 1))

    assert [e.stream_version for e in await store.read_stream("case-1")] == [1, 2]


async def test_concurrent_appenders_at_one_version_exactly_one_wins(
    store: EventStore, database_url: str
) -> None:
    """The first holds its transaction open until all the others are blocked behind it."""
    winner = await connect(database_url)
    losers = 6
    try:
        tx = winner.transaction()
        await tx.start()
        await store.append("case-1", 0, make_envelopes("case-1", 0, 1), winner)
        attempts = [
            asyncio.create_task(store.append("case-1", 0, make_envelopes("case-1", 0, 1, data={"who": i})))
            for i in range(losers)
        ]
        await wait_until(lambda: all_blocked(store, losers), timeout=10, message="appenders never blocked")
        await tx.commit()
        results = await asyncio.gather(*attempts, return_exceptions=True)
    finally:
        await winner.close()
    assert all(isinstance(r, ConcurrencyError) for r in results), results
    stream = await store.read_stream("case-1")
    assert [e.stream_version for e in stream] == [1] and stream[0].data["who"] is None


async def test_many_racing_appenders_exactly_one_wins_each_round(store: EventStore) -> None:
    version = 0
    for _ in range(5):
        results = await asyncio.gather(
            *(store.append("race", version, make_envelopes("race", version, 2)) for _ in range(12)),
            return_exceptions=True,
        )
        winners = [r for r in results if not isinstance(r, BaseException)]
        assert winners == [version + 2], results
        assert all(isinstance(r, ConcurrencyError) for r in results if isinstance(r, BaseException))
        version += 2
    assert await store.append("race", version, []) == version  # nothing to append: no change
    versions = [e.stream_version for e in await store.read_stream("race")]
    assert versions == list(range(1, 11))


async def test_an_append_never_lands_before_an_older_event_of_its_stream_in_the_log(
    store: EventStore, database_url: str
) -> None:
    """A transaction that wrote before reading the stream must not append after a younger writer.

    Its event would sort before the stream's previous event in the global log; it gets a
    ConcurrencyError instead, and its retry in a fresh transaction goes through.
    """
    old = await connect(database_url)
    try:
        tx = old.transaction()
        await tx.start()
        await store.append("elsewhere", 0, make_envelopes("elsewhere", 0, 1), old)  # takes an xid
        await store.append("case-1", 0, make_envelopes("case-1", 0, 1))  # younger, commits first
        with pytest.raises(ConcurrencyError):
            await store.append("case-1", 1, make_envelopes("case-1", 1, 1), old)
        await tx.rollback()
    finally:
        await old.close()
    async with store.transaction() as conn:
        await store.append("case-1", 1, make_envelopes("case-1", 1, 1), conn)
    log = await readable(store, LOG_START, 2)
    assert [Envelope.model_validate_json(e.json).stream_version for e in log] == [1, 2]


# ------------------------------------------------------------------------------- late commits


async def test_reader_waits_for_a_late_commit_instead_of_skipping_it(
    store: EventStore, database_url: str
) -> None:
    slow = await connect(database_url)
    try:
        tx = slow.transaction()
        await tx.start()
        await store.append("slow", 0, make_envelopes("slow", 0, 1), slow)  # takes the smaller position
        await store.append("fast", 0, make_envelopes("fast", 0, 1))  # commits first

        assert await store.read_all_after(LOG_START) == [], "the fast event must wait for the slow one"
        assert await store.has_events_after(LOG_START)

        await tx.commit()
    finally:
        await slow.close()
    log = await readable(store, LOG_START, 2)
    assert ids(log) == ["slow", "fast"]
    assert log[0].position < log[1].position
    assert not await store.has_events_after(log[-1].log_position)


async def test_reader_does_not_skip_a_younger_transaction_below_an_older_ones_second_append(
    store: EventStore, database_url: str
) -> None:
    """Why the checkpoint is (transaction, position): here a position checkpoint loses an event.

    Old transaction appends (position 1); young one appends (position 2) and stays open; the old one
    appends again (position 3) and commits. Everything of the old transaction is readable, and a
    position checkpoint would now be 3 — past the young transaction's 2, which commits after.
    """
    old, young = await connect(database_url), await connect(database_url)
    try:
        old_tx, young_tx = old.transaction(), young.transaction()
        await old_tx.start()
        await young_tx.start()
        await store.append("a", 0, make_envelopes("a", 0, 1), old)
        await store.append("b", 0, make_envelopes("b", 0, 1), young)
        await store.append("c", 0, make_envelopes("c", 0, 1), old)
        await old_tx.commit()

        first = await readable(store, LOG_START, 2)
        assert ids(first) == ["a", "c"]
        assert [e.position for e in first] == [1, 3]

        await young_tx.commit()
    finally:
        await old.close()
        await young.close()
    rest = await readable(store, first[-1].log_position, 1)
    assert ids(rest) == ["b"], "the young transaction's event must not be passed over"


async def test_concurrent_writers_and_a_reader_every_event_exactly_once_in_log_order(
    store: EventStore, database_url: str
) -> None:
    """Many writers on their own connections, some holding their transaction open for a few ms,
    some appending twice in one transaction; one reader follows the log from its checkpoint."""
    writers, rounds = 12, 40
    rng = random.Random(20250303)
    written: list[str] = []
    done = asyncio.Event()

    async def writer(n: int) -> None:
        conn = await connect(database_url)
        try:
            for r in range(rounds):
                stream = f"w{n}-s{r % 5}"
                version = (r // 5) * 2  # every round appends two events to its stream
                events = make_envelopes(stream, version, 2)
                style = rng.random()
                if style < 0.4:  # one statement, its own transaction
                    await store.append(stream, version, events, conn)
                else:
                    async with conn.transaction():
                        await store.append(stream, version, events[:1], conn)
                        await asyncio.sleep(rng.uniform(0, 0.005))  # a slow command
                        if style < 0.7:
                            other = f"w{n}-x{r}"
                            extra = make_envelopes(other, 0, 1)
                            await store.append(other, 0, extra, conn)
                            written.extend(str(e.event_id) for e in extra)
                        await store.append(stream, version + 1, events[1:], conn)
                written.extend(str(e.event_id) for e in events)
        finally:
            await conn.close()

    seen: list[StoredEvent] = []

    async def reader() -> None:
        checkpoint = LOG_START
        reader_conn = await connect(database_url)
        try:
            while True:
                batch = await store.read_all_after(checkpoint, 50, reader_conn)
                if batch:
                    seen.extend(batch)
                    checkpoint = batch[-1].log_position
                    continue
                if done.is_set() and not await store.has_events_after(checkpoint, reader_conn):
                    return
                await asyncio.sleep(0.001)
        finally:
            await reader_conn.close()

    reading = asyncio.create_task(reader())
    await asyncio.gather(*(writer(n) for n in range(writers)))
    done.set()
    await asyncio.wait_for(reading, timeout=30)

    envelopes = [Envelope.model_validate_json(e.json) for e in seen]
    seen_ids = [str(e.event_id) for e in envelopes]
    assert len(seen_ids) == len(set(seen_ids)), "an event was read twice"
    assert set(seen_ids) == set(written), f"missed {len(set(written) - set(seen_ids))} events"
    positions = [LogPosition(e.tx_id, e.position) for e in seen]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    per_stream: dict[str, list[int]] = defaultdict(list)
    for env in envelopes:
        per_stream[env.stream_id].append(env.stream_version)
    assert all(v == list(range(1, len(v) + 1)) for v in per_stream.values())


# -------------------------------------------------------------------------------------- helpers


async def all_blocked(store: EventStore, n: int) -> bool:
    """Whether ``n`` sessions of this database wait on a lock (here: the winner's unique key)."""
    async with store.pool.acquire() as conn:
        blocked: int = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock'"
        )
    return blocked >= n
