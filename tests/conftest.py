"""Infrastructure fixtures: a real PostgreSQL and a real Kafka-protocol broker over TCP, no fakes.

- ``pg_server_url`` (session): ``TEST_DATABASE_URL``, else the local server on 127.0.0.1:5432 if
  it answers within 2 s, else an embedded PostgreSQL in a temporary directory.
- ``database_url`` (function): a fresh database ``bc_test_<hex>`` on that server, dropped after.
- ``kafka`` (session): a Tansu broker for the whole run (or ``KAFKA_BOOTSTRAP_SERVERS``), with
  every topic of ``shared.topology.all_topics()`` created. Use ``.bootstrap_servers``.
- ``private_broker`` (function): a Tansu broker of the test's own, same topics, for tests that
  pause, kill or restart it.

Consumers wait at most 10 ms for records (``KAFKA_FETCH_MAX_WAIT_MS``): no relay announces what a
test publishes itself.

Keys: at session start (``pytest_configure``) random test values of ``BRANCHCARE_JWT_SECRET``,
``BRANCHCARE_PII_KEY`` and ``BRANCHCARE_MASTER_KEY`` go into ``os.environ``, so in-process apps and
service subprocesses share them (never real keys; ``BRANCHCARE_DEV_MODE`` is cleared so the
services run as in production). ``tests/support/auth.py`` signs staff tokens with that secret.

Hypothesis runs without its timing checks (no per-example deadline, no "too slow" health check):
on the 2-core machine, next to a second pytest worker and real services, an example's wall time
says nothing about the code, and a property test should fail on a counterexample only.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio
from hypothesis import HealthCheck, settings

from shared.devstack import (
    TansuBroker,
    create_topics,
    drop_database,
    ensure_database,
    start_embedded_postgres,
)
from shared.topology import all_topics

settings.register_profile("branchcare", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("branchcare")

LOCAL_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"

#: generated for this run only; every service (in-process or subprocess) of the run uses them
TEST_KEYS = {
    "BRANCHCARE_JWT_SECRET": secrets.token_urlsafe(48),
    "BRANCHCARE_PII_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
    "BRANCHCARE_MASTER_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
    "BRANCHCARE_MASTER_KEY_ID": "mk-test",
}


def pytest_configure(config: pytest.Config) -> None:
    """Test keys into the environment before anything builds an app or starts a service."""
    os.environ.update(TEST_KEYS)
    # the embedded broker holds every fetch for its whole max wait (shared/fetch_pacing.py), and no
    # relay announces what a test publishes itself: consumers wait 10 ms at most, as they always
    # did in tests (service subprocesses also pause when idle: tests/support/services.py)
    os.environ.setdefault("KAFKA_FETCH_MAX_WAIT_MS", "10")
    for name in ("BRANCHCARE_DEV_MODE", "BRANCHCARE_SERVICE_JWT_SECRET", "BRANCHCARE_MASTER_KEYS_RETIRED"):
        os.environ.pop(name, None)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/integration/ carries the ``integration`` marker."""
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.integration)


# ---------------------------------------------------------------------------------- PostgreSQL


async def _answers(url: str, timeout: float) -> bool:
    try:
        conn = await asyncpg.connect(url, timeout=timeout)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def pg_server_url() -> AsyncIterator[str]:
    """URL of a PostgreSQL server on which tests may create and drop databases."""
    configured = os.environ.get("TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    if await _answers(LOCAL_PG_URL, timeout=2.0):
        yield LOCAL_PG_URL
        return
    work = Path(tempfile.mkdtemp(prefix="bc-test-pg-"))
    server = start_embedded_postgres(work / "data", settings={"fsync": "off"})
    try:
        yield server.url
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


@pytest_asyncio.fixture(loop_scope="session")
async def database_url(pg_server_url: str) -> AsyncIterator[str]:
    """A fresh, empty database for one test; dropped (connections terminated) afterwards."""
    name = f"bc_test_{uuid.uuid4().hex[:16]}"
    url = await ensure_database(pg_server_url, name)
    try:
        yield url
    finally:
        await drop_database(pg_server_url, name)


# --------------------------------------------------------------------------------------- Kafka


@dataclass(frozen=True)
class ExternalKafka:
    """A broker the test run does not own (``KAFKA_BOOTSTRAP_SERVERS``): no pause, no kill."""

    bootstrap_servers: str


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def kafka(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[TansuBroker | ExternalKafka]:
    """The broker shared by the whole run, with every topic of the system created."""
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        await create_topics(configured, all_topics())
        yield ExternalKafka(configured)
        return
    # started from the event loop's (main) thread, so it dies with this process
    broker = TansuBroker.start(log_dir=tmp_path_factory.mktemp("tansu"))
    try:
        await create_topics(broker.bootstrap_servers, all_topics())
        yield broker
    finally:
        broker.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def private_broker(tmp_path: Path) -> AsyncIterator[TansuBroker]:
    """A broker for one test to pause, kill or restart (a restarted one comes back empty)."""
    broker = TansuBroker.start(log_dir=tmp_path)
    try:
        await create_topics(broker.bootstrap_servers, all_topics())
        yield broker
    finally:
        broker.stop()
