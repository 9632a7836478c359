"""The complaint service for integration tests, against the real PostgreSQL (``database_url``) and
the real broker (``kafka``) of tests/conftest.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import uuid4

import httpx
import pytest

from services.complaint.service import SERVICE
from shared.clock import FixedClock
from shared.runner import create_app
from shared.settings import ServiceSettings
from tests.integration.complaint.complaint_harness import STAFF, T0, Running, ServiceFactory
from tests.support.auth import StaffAuth
from tests.support.services import serve_app


@pytest.fixture
def complaint_service(database_url: str, kafka: Any, monkeypatch: pytest.MonkeyPatch) -> ServiceFactory:
    """Start the service (again, on the same database): ``async with complaint_service() as svc``."""
    monkeypatch.setenv("COMPLAINT_SCHEDULER_PERIOD_SECONDS", "3600")  # tests tick by hand
    bootstrap: str = kafka.bootstrap_servers
    auth = StaffAuth(STAFF)  # one identity for the whole test, across restarts of the service

    @asynccontextmanager
    async def run(clock: FixedClock | None = None) -> AsyncIterator[Running]:
        # a consumer group per start: Tansu re-joins an existing group slowly (seconds)
        monkeypatch.setenv("COMPLAINT_REACTIONS_NAME", f"reactions_{uuid4().hex[:8]}")
        settings = ServiceSettings(
            database_url=database_url,
            kafka_bootstrap_servers=bootstrap,
            http_host="127.0.0.1",
            kafka_session_timeout_ms=2000,
            kafka_heartbeat_interval_ms=500,
        )
        clock = clock or FixedClock(T0)
        app = create_app(SERVICE, settings, clock=clock)
        async with serve_app(app) as url, httpx.AsyncClient(base_url=url, timeout=10, auth=auth) as http:
            yield Running(url, clock, app.state.ctx, http, bootstrap, auth)

    return run
