"""Closed and open loops offer what they promise, and a slow system is measured in bounded time."""

from __future__ import annotations

import asyncio
import time

from bench.load import closed_loop, open_loop
from bench.stats import Report, html_page


async def test_closed_loop_sends_each_index_once() -> None:
    seen: list[int] = []

    async def send(i: int) -> int:
        seen.append(i)
        await asyncio.sleep(0)
        return 201

    outcome = await closed_loop(send, requests=50, connections=4, first=10)
    assert sorted(seen) == list(range(10, 60))
    assert len(outcome.ok(201)) == 50 and outcome.rate(201) > 0


async def test_closed_loop_stops_offering_after_its_time() -> None:
    async def slow(i: int) -> int:
        await asyncio.sleep(0.05)
        return 200

    started = time.monotonic()
    outcome = await closed_loop(slow, requests=10_000, connections=2, seconds=0.2)
    assert time.monotonic() - started < 1.0
    assert 2 <= len(outcome.samples) <= 20


async def test_open_loop_gives_up_on_answers_that_do_not_come() -> None:
    async def never(i: int) -> int:
        await asyncio.sleep(3600)
        return 201

    outcome = await open_loop(never, rate=100, seconds=0.1, drain=0.2)
    assert outcome.saturated
    assert all(s.status == -1 for s in outcome.samples) and len(outcome.samples) == 10


def test_the_html_page_escapes_what_it_shows() -> None:
    report = Report()
    report.add("a section", "<script>", 1.5, "ms", "a & b")
    page = html_page(report, "summary <x>")
    assert "<script>" not in page and "&lt;script&gt;" in page and "summary &lt;x&gt;" in page
