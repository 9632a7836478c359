"""How consumers are told to fetch, from the settings (``shared.fetch_pacing``)."""

from __future__ import annotations

import pytest

from shared.fetch_pacing import BUSY_FETCH_WAIT_MS, FetchPacing
from shared.settings import ServiceSettings


@pytest.fixture(autouse=True)
def _defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KAFKA_FETCH_MAX_WAIT_MS", "KAFKA_FETCH_ANSWERS_EARLY"):  # tests/conftest.py sets one
        monkeypatch.delenv(name, raising=False)


def settings(**values: object) -> ServiceSettings:
    return ServiceSettings(database_url="postgresql://x", kafka_bootstrap_servers="k:9092", **values)  # type: ignore[arg-type]


def test_against_apache_kafka_consumers_long_poll() -> None:
    pacing = FetchPacing.of(settings())
    assert pacing.broker_answers_early
    assert pacing.fetch_max_wait_ms == 500


def test_against_a_broker_that_holds_fetches_they_fetch_briefly_and_wait_idle_for_the_max_wait() -> None:
    pacing = FetchPacing.of(settings(kafka_fetch_answers_early=False))
    assert pacing.fetch_max_wait_ms == BUSY_FETCH_WAIT_MS
    assert pacing.max_wait_ms == 500  # the idle consumer's look, between announcements
    assert FetchPacing(5, broker_answers_early=False).fetch_max_wait_ms == 5


def test_a_relaxed_consumer_fetches_less_often_while_records_come_and_waits_longer_before_pausing() -> None:
    pacing = FetchPacing.of(settings(kafka_fetch_answers_early=False))
    relaxed = pacing.relaxed(100)
    assert relaxed.fetch_max_wait_ms == 100 and relaxed.max_wait_ms == pacing.max_wait_ms
    assert relaxed.busy_poll_ms >= 2 * 100 and relaxed.idle_after_seconds >= 0.3
    assert pacing.busy_poll_ms == 50 and pacing.idle_after_seconds == 0.2  # the HQ path's, as before
    assert (
        FetchPacing(50, broker_answers_early=False).relaxed(100).fetch_max_wait_ms == 50
    )  # never past the max
