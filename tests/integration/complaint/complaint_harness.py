"""Helpers of the complaint integration tests: the service in-process (uvicorn over TCP) on a
FixedClock, other contexts' events published with proper envelopes, the complaint topic read back."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import httpx
from aiokafka import AIOKafkaProducer

from services.complaint.app import ComplaintApp, app_for
from shared.clock import FixedClock
from shared.envelope import Envelope, to_json
from shared.registry import EventData
from shared.runner import ServiceContext
from tests.support.auth import StaffAuth
from tests.support.kafka import envelopes, read_topic

#: a Thursday, 09:00 in Shanghai
T0 = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
COMPLAINT_TOPIC = "complaint.events.v1"
#: who the harness's client acts as (the branch roles, in every branch it worked in)
STAFF = "lm-007"


@dataclass
class Running:
    url: str
    clock: FixedClock
    ctx: ServiceContext
    http: httpx.AsyncClient
    bootstrap: str
    auth: StaffAuth

    @property
    def app(self) -> ComplaintApp:
        return app_for(self.ctx)

    async def post(self, path: str, body: dict[str, Any] | None = None, **headers: str) -> httpx.Response:
        return await self.http.post(path, json=body, headers=headers)

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.http.get(path, params=params)

    async def new_complaint(
        self, branch: str, channel: str = "phone_hotline", **extra: Any
    ) -> dict[str, Any]:
        body = {"channel": channel, "customer_ref": "cust_ref_0042", "description": "card swallowed", **extra}
        response = await self.post(f"/branches/{branch}/complaints", body)
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    async def ok(self, complaint_id: str, action: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.post(f"/complaints/{complaint_id}/{action}", body)
        assert response.status_code == 200, f"{action}: {response.status_code} {response.text}"
        return response.json()  # type: ignore[no-any-return]

    async def stream_types(self, complaint_id: str | UUID) -> list[str]:
        loaded = await self.app.handler.load(f"complaint-{complaint_id}")
        return [e.type for e in loaded.history]

    async def published(self, stream_id: str, count: int, timeout: float = 20) -> list[Envelope]:
        """The stream's events as they arrived on complaint.events.v1 (waits for ``count``)."""

        def mine(records: list[Any]) -> list[Envelope]:
            return [e for e in envelopes(records) if e.stream_id == stream_id]

        records = await read_topic(
            self.bootstrap, COMPLAINT_TOPIC, until=lambda r: len(mine(r)) >= count, timeout=timeout
        )
        return mine(records)


ServiceFactory = Callable[..., AbstractAsyncContextManager[Running]]
"""``async with complaint_service(clock=...) as svc``: the service, started (again) on the test's database."""


async def publish(bootstrap: str, topic: str, *envs: Envelope) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False, acks="all")
    await producer.start()
    try:
        for env in envs:
            await producer.send_and_wait(topic, to_json(env), key=env.branch_id.encode())
    finally:
        await producer.stop()


def envelope_of(
    data: EventData,
    *,
    stream_id: str,
    version: int,
    branch_id: str,
    at: datetime = T0,
    actor: str = "staff-9",
) -> Envelope:
    """An envelope as another context's event store would publish it."""
    return Envelope(
        event_id=uuid4(),
        type=data.event_type,
        schema_version=data.schema_version,
        stream_id=stream_id,
        stream_version=version,
        branch_id=branch_id,
        occurred_at=at,
        recorded_at=at,
        correlation_id=uuid4(),
        actor=actor,
        data=data.model_dump(mode="json"),
    )
