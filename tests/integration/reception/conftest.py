"""The reception service running in-process (uvicorn over TCP) on a FixedClock, against the real
PostgreSQL (``database_url``) and the real broker (``kafka``) of tests/conftest.py."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.reception.reception_harness import ServiceFactory, service_factory


@pytest.fixture
def reception_service(database_url: str, kafka: Any, monkeypatch: pytest.MonkeyPatch) -> ServiceFactory:
    """Start the service: ``async with reception_service() as svc`` (optionally with a clock)."""
    monkeypatch.setenv("RECEPTION_SCHEDULER_PERIOD_SECONDS", "3600")  # tests tick by hand
    monkeypatch.setenv("RECEPTION_GAUGE_PERIOD_SECONDS", "3600")
    return service_factory(database_url, kafka.bootstrap_servers)
