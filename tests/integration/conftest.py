"""The one way integration tests run a service: ``run_service`` (tests/support/harness.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from shared.clock import FixedClock
from tests.support.auth import StaffAuth
from tests.support.harness import STAFF, Running, RunService, running


@pytest.fixture
def run_service(database_url: str, kafka: Any) -> RunService:
    """``async with run_service(name, clock=..., settings=...) as svc``: the service in-process on
    the test's database and the session's broker, started (again, after a restart) as often as the
    test likes; its client keeps one member of staff across restarts unless ``staff`` says otherwise."""
    auth = StaffAuth(STAFF)

    @asynccontextmanager
    async def run(name: str, clock: FixedClock | None = None, **kwargs: Any) -> AsyncIterator[Running]:
        kwargs.setdefault("staff", auth)
        async with running(name, database_url, kafka.bootstrap_servers, clock=clock, **kwargs) as svc:
            yield svc

    return run
