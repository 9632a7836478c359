"""Infrastructure fixtures: a real PostgreSQL and a real Kafka-protocol broker over TCP, no fakes.

- ``pg_server_url`` (session): ``TEST_DATABASE_URL``, else the local server on 127.0.0.1:5432 if
  it answers within 2 s, else an embedded PostgreSQL in a temporary directory.
- ``database_url`` (function): a fresh database ``bc_test_<hex>`` on that server, dropped after,
  with every service's schema already migrated: a copy of a template migrated once per migration
  set (tests/support/databases.py); marker ``empty_database``: an empty one instead, for tests
  about migrating. Both happen off the test's path (``FreshDatabases``): the next test's database
  is created while this one runs, and used ones are dropped in the background, several at a time.
  Test databases commit without waiting for the WAL flush (``synchronous_commit = off``, as the
  embedded server runs with ``fsync = off``): visibility and ordering are the same, only a crash of
  the shared server could lose a commit, and no test crashes it (restart tests run their own).
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
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio
from hypothesis import HealthCheck, settings

from shared.devstack import TansuBroker, create_topics, start_embedded_postgres, with_database
from shared.topology import all_topics
from tests.support.databases import FreshDatabases, NewDatabase

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
    config.addinivalue_line(
        "markers", "empty_database: the test's database_url is empty (no schema migrated in it)"
    )
    # the embedded broker holds every fetch for its whole max wait (shared/fetch_pacing.py), and no
    # relay announces what a test publishes itself: consumers wait 10 ms at most, as they always
    # did in tests (service subprocesses also pause when idle: tests/support/services.py)
    os.environ.setdefault("KAFKA_FETCH_MAX_WAIT_MS", "10")
    for name in ("BRANCHCARE_DEV_MODE", "BRANCHCARE_SERVICE_JWT_SECRET", "BRANCHCARE_MASTER_KEYS_RETIRED"):
        os.environ.pop(name, None)


#: the files that take longest, longest first (``--durations`` and the junit report of a whole run,
#: 2026-12-07, seconds summed per file in the comments): ``make test`` hands out one file at a time to
#: each of two workers (``--dist loadfile --no-loadscope-reorder``), and a long file handed out last
#: left the other worker idle for its whole length; first, they run next to the many short files.
#: The browser tests (tests/e2e) come as one block: their stack (every service and the console as
#: processes, a broker, a database) is package-scoped, so a worker that ran another file between
#: two of them stopped it and started it again (four starts of 10–25 s in the run above; now one per
#: worker at most)
SLOWEST_FILES = (
    "integration/security/test_free_text_everywhere.py",  # 199
    "e2e/test_console_complaints.py",  # 48, with the stack's start
    "e2e/test_console_followups_feedback.py",  # 47, with the stack's start
    "e2e/test_console_reception.py",  # 45
    "e2e/test_console_hq.py",  # 18
    "e2e/test_console_access.py",  # 11
    "unit/test_deploy_config.py",  # 72
    "integration/security/test_route_matrix.py",  # 55
    "integration/security/test_backup_drill.py",  # 54
    "unit/security/test_service_startup.py",  # 49
    "integration/complaint/test_complaint_http.py",  # 46
    "integration/test_relay_repair.py",  # 45
    "integration/test_projection_gaps.py",  # 44
    "integration/test_chaos_smoke.py",  # 39
    "integration/cli/test_rebuild_read_models.py",  # 38
    "integration/security/test_vault.py",  # 36
    "integration/security/test_audit_trail.py",  # 33
    "integration/test_simulator.py",  # 31
    "integration/hq/test_hq_regulatory_report.py",  # 30
    "integration/feedback/test_feedback_service.py",  # 29
    "integration/test_broker_loss_e2e.py",  # 28
    "integration/test_relay.py",  # 28
    "integration/test_bench_smoke.py",  # 27
    "integration/test_shutdown.py",  # 27
    "integration/complaint/test_complaint_reactions.py",  # 26
    "integration/test_commands_without_kafka.py",  # 26
    "integration/test_reaction_drain.py",  # 25
    "integration/security/test_fuzz.py",  # 25
    "integration/hqfeed/test_case_facts_prompt.py",  # 24
    "integration/hqfeed/test_feed_rebuild.py",  # 24
    "integration/hq/test_hqfeed_gap.py",  # 22
    "integration/hq/test_hq_rebuild.py",  # 22
    "integration/followup/test_followup_service.py",  # 21
    "integration/complaint/test_complaint_deadlines.py",  # 20
)


def _slowness_rank(item: pytest.Item) -> int:
    path = item.path.as_posix()
    for rank, name in enumerate(SLOWEST_FILES):
        if path.endswith(f"tests/{name}"):
            return rank
    return len(SLOWEST_FILES)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/integration/ carries the ``integration`` marker; the slowest files
    come first (``SLOWEST_FILES``), every file's tests in their own order."""
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.integration)
    items.sort(key=_slowness_rank)  # stable: the rest keep the collection's order


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


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def fresh_databases(pg_server_url: str) -> AsyncIterator[FreshDatabases]:
    databases = FreshDatabases(pg_server_url)
    try:
        yield databases
    finally:
        await databases.close()


@pytest_asyncio.fixture(loop_scope="session")
async def database_url(request: pytest.FixtureRequest, fresh_databases: FreshDatabases) -> AsyncIterator[str]:
    """A fresh database for one test, every service's schema migrated (empty with the marker
    ``empty_database``); dropped (connections terminated) afterwards."""
    empty = request.node.get_closest_marker("empty_database") is not None
    name = await fresh_databases.take(migrated=not empty)
    try:
        yield with_database(fresh_databases.server_url, name)
    finally:
        fresh_databases.give_back(name)


@pytest_asyncio.fixture(loop_scope="session")
async def new_database(fresh_databases: FreshDatabases) -> AsyncIterator[NewDatabase]:
    """``await new_database()``: the URL of one more fresh, migrated database for this test (as
    ``database_url``, for tests comparing several), each dropped in the background afterwards."""
    taken: list[str] = []

    async def new() -> str:
        taken.append(await fresh_databases.take())
        return with_database(fresh_databases.server_url, taken[-1])

    try:
        yield new
    finally:
        for name in taken:
            fresh_databases.give_back(name)


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
