"""Running the follow-up service in-process on a FixedClock, and publishing other contexts' events.

The events of the complaint, reception and feedback contexts are built with the contract models
and published as proper envelopes to their topics, as those services' relays would: the other
services need not run. Every test uses branch ids of its own (the broker is shared by the session).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import httpx
from aiokafka import AIOKafkaProducer

from services.followup.components import Components, components
from services.followup.service import build_service, refresh_gauges
from shared.clock import FixedClock
from shared.envelope import Envelope, to_json
from shared.registry import EventData
from shared.runner import ServiceContext, create_app
from shared.settings import ServiceSettings
from tests.support.auth import StaffAuth
from tests.support.kafka import envelopes, read_topic
from tests.support.services import serve_app, wait_until

#: Monday 2 March 2026, 10:00 in Shanghai
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
#: who the test client acts as (the branch roles, in every branch it worked in)
STAFF = "lm-007"


def settings_for(database_url: str, bootstrap: str) -> ServiceSettings:
    return ServiceSettings(
        database_url=database_url,
        kafka_bootstrap_servers=bootstrap,
        http_host="127.0.0.1",
        db_pool_min=1,
        db_pool_max=10,
        kafka_session_timeout_ms=2000,  # Tansu holds a group join for half of it
        kafka_heartbeat_interval_ms=500,
    )


def branch() -> str:
    return f"fu-{uuid4().hex[:10]}"


@dataclass
class Stream:
    """Another context's event stream, as its event store would publish it."""

    stream_id: str
    branch_id: str
    version: int = 0
    correlation_id: UUID = field(default_factory=uuid4)

    def next(self, data: EventData, *, at: datetime = T0, actor: str = "lm-007") -> Envelope:
        self.version += 1
        return Envelope(
            event_id=uuid4(),
            type=data.event_type,
            schema_version=data.schema_version,
            stream_id=self.stream_id,
            stream_version=self.version,
            branch_id=self.branch_id,
            occurred_at=at,
            recorded_at=at,
            correlation_id=self.correlation_id,
            actor=actor,
            data=data.model_dump(mode="json"),
        )


async def publish(bootstrap: str, topic: str, *envs: Envelope) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False, acks="all")
    await producer.start()
    try:
        for env in envs:
            await producer.send_and_wait(topic, to_json(env), key=env.branch_id.encode())
    finally:
        await producer.stop()


async def published(
    bootstrap: str, topic: str, predicate: Any, count: int = 1, timeout: float = 20
) -> list[Envelope]:
    """Envelopes on ``topic`` matching ``predicate``, once at least ``count`` arrived."""

    def matching(records: list[Any]) -> list[Envelope]:
        return [e for e in envelopes(records) if predicate(e)]

    records = await read_topic(bootstrap, topic, until=lambda r: len(matching(r)) >= count, timeout=timeout)
    return matching(records)


@dataclass
class Running:
    url: str
    clock: FixedClock
    ctx: ServiceContext
    http: httpx.AsyncClient
    bootstrap: str
    auth: StaffAuth

    @property
    def parts(self) -> Components:
        return components(self.ctx)

    async def tick(self) -> int:
        return await self.parts.scheduler.tick()

    async def refresh_gauges(self) -> None:
        await refresh_gauges(self.ctx)

    async def post(self, path: str, body: dict[str, Any] | None = None, **headers: str) -> httpx.Response:
        return await self.http.post(path, json=body, headers=headers)

    async def tasks(self, branch_id: str, status: str = "open", **params: Any) -> list[dict[str, Any]]:
        response = await self.http.get(
            f"/branches/{branch_id}/follow-ups", params={"status": status, **params}
        )
        assert response.status_code == 200, response.text
        return response.json()["tasks"]  # type: ignore[no-any-return]

    async def wait_tasks(
        self, branch_id: str, count: int, status: str = "open", timeout: float = 15, **params: Any
    ) -> list[dict[str, Any]]:
        async def enough() -> list[dict[str, Any]] | None:
            found = await self.tasks(branch_id, status, **params)
            return found if len(found) >= count else None

        found = await wait_until(enough, timeout, message=f"{count} {status} task(s) in {branch_id}")
        assert len(found) == count, found
        return found

    async def db(self, query: str, *args: Any) -> list[Any]:
        async with self.ctx.pool.acquire() as conn:
            return list(await conn.fetch(query, *args))


@asynccontextmanager
async def followup_service(
    database_url: str, bootstrap: str, clock: FixedClock | None = None
) -> AsyncIterator[Running]:
    clock = clock or FixedClock(T0)
    app = create_app(build_service(), settings_for(database_url, bootstrap), clock=clock)
    auth = StaffAuth(STAFF)
    async with serve_app(app) as url, httpx.AsyncClient(base_url=url, timeout=10, auth=auth) as http:
        yield Running(url, clock, app.state.ctx, http, bootstrap, auth)
