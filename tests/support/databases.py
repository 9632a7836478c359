"""Test databases off the test's path: created ahead, dropped behind, and migrated by copying.

A test's database is new, used by that test only, and dropped after (``database_url`` in
tests/conftest.py). Two kinds:

- **migrated** (the default): a copy (``CREATE DATABASE … TEMPLATE``) of a template database in which
  every service's schema (``shared.topology.CONTEXTS``) and the shared-only schemas the test support
  uses by default (:data:`SHARED_ONLY_SCHEMAS`) were migrated once. Running the ~35 migration files
  took 2–4 s per test on the loaded 2-core machine (0.3–1 s a schema, paid by every service start and
  every ``migrated_store``); the copy takes ~0.2 s and is made while the previous test runs. A
  service starting on it still runs ``apply_migrations``, which finds everything applied by these
  very files (checksums compared) and applies nothing.
- **empty** (marker ``empty_database``): a plain ``CREATE DATABASE`` from ``template1``, for tests
  about migrating itself (a schema nobody started on, an old migration then the new ones, a process
  that migrates at its start).

The template is named after a digest of every migration file it ran (name and content) and of
:data:`RECIPE`: a changed, added or removed migration gives a new name, so a stale template is never
copied. It is built once per server under an advisory lock (the pytest workers, and other test runs
on the same server, wait for the one building it), under a temporary name renamed when complete (a
run that died half-way leaves no template that looks ready), and closed to connections (a copy
fails while anyone is connected to its template). It is kept for the next run; templates of older
migration sets are left too (another run may still copy them): ``DROP DATABASE`` them by hand.

On PostgreSQL before 16 every ``DROP DATABASE`` waits for a forced checkpoint (over a second on the
loaded machine): used databases are dropped in the background, several at a time, sharing one.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import logging
import uuid
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg

from shared.devstack import drop_database, with_database
from shared.migrations import apply_migrations, checksum, sources
from shared.topology import CONTEXTS

#: schemas with only the shared tables (``shared/sql``) that test helpers create by default
#: (``tests.support.events.migrated_store``: ``es``; tests/integration/sla/conftest.py: ``sla``)
SHARED_ONLY_SCHEMAS = ("es", "sla")

#: changes whenever what the template holds changes other than through a migration file
RECIPE = "services+es+sla/v1"

#: ``await new_database()`` (fixture ``new_database``): the URL of one more migrated database
NewDatabase = Callable[[], Awaitable[str]]

log = logging.getLogger(__name__)


def _schemas() -> list[tuple[str, Path | None]]:
    """(schema, the service's migrations folder) for every schema the template holds."""
    found: list[tuple[str, Path | None]] = []
    for name in CONTEXTS:
        service = importlib.import_module(f"services.{name}.service").SERVICE
        found.append((service.schema, service.migrations))
    return found + [(schema, None) for schema in SHARED_ONLY_SCHEMAS]


def template_name() -> str:
    """``bc_tpl_<digest>``: the digest of :data:`RECIPE` and of every file the template runs."""
    digest = hashlib.sha256(RECIPE.encode())
    for schema, folder in _schemas():
        for source, path in sources(schema, folder):
            for file in sorted(path.glob("*.sql")):
                digest.update(f"{schema}\0{source}\0{file.name}\0{checksum(file)}\n".encode())
    return f"bc_tpl_{digest.hexdigest()[:20]}"


async def _exists(conn: asyncpg.Connection, name: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))


async def ensure_template(server_url: str) -> str:
    """The name of the migrated template on this server, built now if missing."""
    name = template_name()
    conn = await asyncpg.connect(server_url, timeout=10)
    try:
        if await _exists(conn, name):
            return name
        lock = zlib.crc32(name.encode())
        await conn.execute("SELECT pg_advisory_lock($1)", lock)
        try:
            if not await _exists(conn, name):  # nobody built it while this waited
                await _build(server_url, conn, name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", lock)
    finally:
        await conn.close()
    return name


async def _build(server_url: str, conn: asyncpg.Connection, name: str) -> None:
    building = f"{name}_building"
    await drop_database(server_url, building)  # left by a run that died building it
    await conn.execute(f'CREATE DATABASE "{building}"')
    target = await asyncpg.connect(with_database(server_url, building), timeout=10)
    try:
        for schema, folder in _schemas():
            await apply_migrations(target, schema, folder)
    finally:
        await target.close()
    await conn.execute(f'ALTER DATABASE "{building}" WITH ALLOW_CONNECTIONS false')
    await conn.execute(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
    log.info("built the migrated test template %s", name)


class FreshDatabases:
    """A new database per test without the test waiting for CREATE, the copy, or DROP DATABASE.

    ``take()`` hands out a database of the kind asked for, created ahead (while the previous test
    ran) when the previous test asked for the same kind, and starts creating the next;
    ``give_back()`` drops a used one in the background. Every database is used by one test only."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self._ahead: dict[bool, asyncio.Task[str]] = {}
        self._template: asyncio.Task[str] | None = None
        self._drops: set[asyncio.Task[None]] = set()

    async def take(self, *, migrated: bool = True) -> str:
        """The name of a fresh database (created ahead, or now): migrated, or empty."""
        ready = self._ahead.pop(migrated, None) or asyncio.create_task(self._create(migrated))
        self._ahead[migrated] = asyncio.create_task(self._create(migrated))
        return await ready

    def give_back(self, name: str) -> None:
        """Drop ``name`` (its connections terminated) in the background."""
        task = asyncio.create_task(drop_database(self.server_url, name))
        self._drops.add(task)
        task.add_done_callback(self._dropped)

    def _dropped(self, task: asyncio.Task[None]) -> None:
        self._drops.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("dropping a test database failed: %r", task.exception())

    async def _create(self, migrated: bool) -> str:
        name = f"bc_test_{uuid.uuid4().hex[:16]}"
        copy = ""
        if migrated:
            if self._template is None:
                self._template = asyncio.create_task(ensure_template(self.server_url))
            copy = f' TEMPLATE "{await asyncio.shield(self._template)}"'
        conn = await asyncpg.connect(self.server_url, timeout=10)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"{copy}')
            # see tests/conftest.py; a database's settings are not copied from its template
            await conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
        finally:
            await conn.close()
        return name

    async def close(self) -> None:
        """Drop the databases created ahead; wait for every drop."""
        for name in await asyncio.gather(*self._ahead.values(), return_exceptions=True):
            if isinstance(name, str):
                self.give_back(name)
        self._ahead.clear()
        while self._drops:
            await asyncio.gather(*self._drops, return_exceptions=True)
