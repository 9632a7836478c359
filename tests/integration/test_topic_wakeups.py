"""Announcements reach the processes that read the topic, and only those (one channel per topic)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from shared.topic_wakeups import MAX_CHANNEL_BYTES, TopicWakeups, announce, channel_of
from tests.support.services import wait_until

pytestmark = pytest.mark.integration


def test_a_topic_has_a_channel_of_its_own_within_the_identifier_limit() -> None:
    long_a, long_b = "x" * 80 + ".a", "x" * 80 + ".b"
    assert channel_of("complaint.events.v1") != channel_of("hqfeed.events.v1")
    assert channel_of(long_a) != channel_of(long_b)
    assert len(channel_of(long_a).encode()) <= MAX_CHANNEL_BYTES


async def test_a_watcher_wakes_for_its_topics_only_also_when_watching_after_the_start(
    database_url: str,
) -> None:
    """A consumer registered after the listener connected still hears its topic (the runner starts
    the listener before the projections watch); a topic it does not read never wakes it, and
    its process is not sent that topic's announcements at all."""
    wakeups = TopicWakeups(database_url, "test")
    delivered: list[str] = []  # what the process was sent
    deliver = wakeups._on_notify
    wakeups._on_notify = lambda *a: (delivered.append(a[3]), deliver(*a))  # type: ignore[method-assign]
    wakeups.start()
    heard: list[str] = []
    try:
        await asyncio.sleep(0.2)  # connected, nothing watched yet
        mine = wakeups.watch(["t.mine.v1"])
        long_topic = "t." + "y" * 70
        long_one = wakeups.watch([long_topic])
        await wait_until(mine.is_set, timeout=5)  # woken once as it starts listening
        await wait_until(long_one.is_set, timeout=5)
        conn = await asyncpg.connect(database_url)
        try:
            spy = await asyncpg.connect(database_url)
            await spy.add_listener(channel_of("t.mine.v1"), lambda *a: heard.append(a[3]))
            for _ in range(3):
                mine.clear()
                long_one.clear()
                await announce(conn, "t.other.v1")
                await asyncio.sleep(0.1)
                assert not mine.is_set() and not long_one.is_set()
                await announce(conn, "t.mine.v1")
                await wait_until(mine.is_set, timeout=5)
                assert not long_one.is_set()
                await announce(conn, long_topic)
                await wait_until(long_one.is_set, timeout=5)
            await wait_until(lambda: len(heard) == 3, timeout=5)
            assert heard == ["t.mine.v1"] * 3
            assert "t.other.v1" not in delivered  # nobody here reads it: not sent to this process
            await spy.close()
        finally:
            await conn.close()
    finally:
        await wakeups.close()


async def test_a_lost_listen_connection_reconnects_and_wakes_every_watcher(database_url: str) -> None:
    wakeups = TopicWakeups(database_url, "test-lost")
    mine = wakeups.watch(["t.mine.v1"])
    wakeups.start()
    try:
        await wait_until(mine.is_set, timeout=5)
        mine.clear()
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = 'test-lost-listen'"
            )
            await wait_until(mine.is_set, timeout=10)  # the reconnect wakes it: it may have missed some
            mine.clear()
            for _ in range(20):  # listening again: an announcement arrives
                await announce(conn, "t.mine.v1")
                await asyncio.sleep(0.1)
                if mine.is_set():
                    break
            assert mine.is_set()
        finally:
            await conn.close()
    finally:
        await wakeups.close()
