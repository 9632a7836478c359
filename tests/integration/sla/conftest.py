"""A pool on a fresh database with the deadlines' tables (``shared/migrations``) in schema ``sla``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest_asyncio

from shared.migrations import apply_migrations


@pytest_asyncio.fixture(loop_scope="session")
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(database_url, server_settings={"search_path": "sla"})
    assert pool is not None
    async with pool.acquire() as conn:
        await apply_migrations(conn, "sla", None)
    yield pool
    await pool.close()
