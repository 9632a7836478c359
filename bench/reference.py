"""The bare reference endpoint: ``python -m bench.reference`` (``DATABASE_URL``, ``HTTP_PORT``).

What the fastest honest FastAPI + asyncpg service does for a create: the complaint-create route
and body (pydantic), one INSERT in one transaction on a pooled connection, a 201 with a JSON
body, served exactly as the services are (:func:`shared.runner.server_config`) with the same pool
size. No auth, events, deadlines, audit or Kafka: the benchmark prints each service's hottest
command next to it, measured in the same run, so the ratio says what the service's own work costs.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID, uuid4

import asyncpg
import uvicorn
from fastapi import FastAPI, Path, Request
from pydantic import BaseModel, ConfigDict

from shared.contracts.complaint import Channel, CustomerRef
from shared.contracts.text import FreeText
from shared.runner import server_config
from shared.settings import ServiceSettings

_TABLE = """
CREATE TABLE IF NOT EXISTS reference_complaints (
    complaint_id uuid PRIMARY KEY, branch_id text NOT NULL, channel text NOT NULL,
    customer_ref text NOT NULL, description text NOT NULL, received_at timestamptz NOT NULL)
"""
_INSERT = """INSERT INTO reference_complaints
    (complaint_id, branch_id, channel, customer_ref, description, received_at)
    VALUES ($1, $2, $3, $4, $5, $6)"""


class Body(BaseModel):
    """The complaint-create body (the walking skeleton takes the same)."""

    model_config = ConfigDict(extra="forbid")

    channel: Channel
    customer_ref: CustomerRef
    description: FreeText


class Created(BaseModel):
    complaint_id: UUID
    version: int


def create_app(database_url: str, pool_size: int) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await asyncpg.create_pool(database_url, min_size=2, max_size=pool_size)
        assert pool is not None
        async with pool.acquire() as conn:
            await conn.execute(_TABLE)
        app.state.pool = pool
        try:
            yield
        finally:
            await pool.close()

    app = FastAPI(lifespan=lifespan, title="bench reference")

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/branches/{branch_id}/complaints", status_code=201, response_model=Created)
    async def create(
        branch_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9_\-]{1,64}$")], body: Body, request: Request
    ) -> Created:
        complaint_id = uuid4()
        pool: asyncpg.Pool = request.app.state.pool
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(
                _INSERT,
                complaint_id,
                branch_id,
                body.channel.value,
                body.customer_ref,
                body.description,
                datetime.now(UTC),
            )
        return Created(complaint_id=complaint_id, version=1)

    return app


def main() -> None:
    pool_size = int(os.environ.get("DB_POOL_MAX") or ServiceSettings.model_fields["db_pool_max"].default)
    app = create_app(os.environ["DATABASE_URL"], pool_size)
    host, port = os.environ.get("HTTP_HOST", "127.0.0.1"), int(os.environ.get("HTTP_PORT", "8000"))
    uvicorn.Server(server_config(app, host, port, "WARNING")).run()


if __name__ == "__main__":
    main()
