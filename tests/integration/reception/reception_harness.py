"""Test harness of the reception service: the running service and helpers to drive a visit."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from services.reception.app import Reception
from services.reception.components import reception
from services.reception.service import SERVICE
from shared.clock import FixedClock
from shared.envelope import Envelope
from shared.runner import ServiceContext, create_app
from shared.settings import ServiceSettings
from tests.support.auth import StaffAuth
from tests.support.kafka import envelopes, read_topic
from tests.support.services import serve_app

#: a Monday, 09:00 in Shanghai
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
RECEPTION_TOPIC = "reception.events.v1"
STAFF = "lm-007"
REF = "cust_ref_0042"


@dataclass
class Running:
    url: str
    clock: FixedClock
    ctx: ServiceContext
    http: httpx.AsyncClient
    bootstrap: str
    #: the client's identity: ``STAFF`` with the branch roles, in every branch it worked in
    auth: StaffAuth

    @property
    def app(self) -> Reception:
        return reception(self.ctx)

    async def post(self, path: str, body: dict[str, Any] | None = None, **headers: str) -> httpx.Response:
        return await self.http.post(path, json=body, headers=headers)

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.http.get(path, params=params)

    async def ok(self, visit_id: str, action: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.post(f"/visits/{visit_id}/{action}", body)
        assert response.status_code == 200, f"{action}: {response.status_code} {response.text}"
        return response.json()  # type: ignore[no-any-return]

    async def arrive(self, branch: str, **body: Any) -> dict[str, Any]:
        response = await self.post(f"/branches/{branch}/visits", {"customer_ref": REF, **body})
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    async def ready_to_queue(self, branch: str, service_type: str = "deposit_demand", **arrive: Any) -> str:
        """Arrived, greeted, need confirmed, guided, documents complete: returns the visit id."""
        visit_id = (await self.arrive(branch, **arrive))["visit_id"]
        await self.ok(visit_id, "greet")
        await self.ok(visit_id, "confirm-need", {"service_type": service_type, "notes": "at the desk"})
        await self.ok(visit_id, "guide")
        await self.ok(visit_id, "check-documents", {"missing": []})
        return str(visit_id)

    async def queued(
        self, branch: str, service_type: str = "deposit_demand", **arrive: Any
    ) -> tuple[str, str]:
        visit_id = await self.ready_to_queue(branch, service_type, **arrive)
        ticket = (await self.ok(visit_id, "queue"))["ticket"]
        return visit_id, ticket

    async def lobby(self, branch: str) -> dict[str, Any]:
        response = await self.get(f"/branches/{branch}/lobby")
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    async def advance(self, minutes: float = 0, seconds: float = 0) -> int:
        """Move the clock and fire what became due (the scheduler's tick, no sleeping)."""
        self.clock.advance(timedelta(minutes=minutes, seconds=seconds))
        return await self.app.tick()

    async def stream_types(self, stream_id: str) -> list[str]:
        loaded = await self.app.visits.handler.load(stream_id)
        return [e.type for e in loaded.history]

    async def published(self, stream_id: str, count: int, timeout: float = 20) -> list[Envelope]:
        """The stream's events as they arrived on reception.events.v1 (waits for ``count``)."""

        def mine(records: list[Any]) -> list[Envelope]:
            return [e for e in envelopes(records) if e.stream_id == stream_id]

        records = await read_topic(
            self.bootstrap, RECEPTION_TOPIC, until=lambda r: len(mine(r)) >= count, timeout=timeout
        )
        return mine(records)


def settings_for(database_url: str, bootstrap: str) -> ServiceSettings:
    return ServiceSettings(
        database_url=database_url,
        kafka_bootstrap_servers=bootstrap,
        http_host="127.0.0.1",
        kafka_session_timeout_ms=2000,
        kafka_heartbeat_interval_ms=500,
    )


ServiceFactory = Callable[..., AbstractAsyncContextManager[Running]]


def service_factory(database_url: str, bootstrap: str) -> ServiceFactory:
    auth = StaffAuth(STAFF)  # one identity for the whole test, across restarts of the service

    @asynccontextmanager
    async def run(clock: FixedClock | None = None) -> AsyncIterator[Running]:
        clock = clock or FixedClock(T0)
        app = create_app(SERVICE, settings_for(database_url, bootstrap), clock=clock)
        async with serve_app(app) as url, httpx.AsyncClient(base_url=url, timeout=10, auth=auth) as http:
            yield Running(url, clock, app.state.ctx, http, bootstrap, auth)

    return run
