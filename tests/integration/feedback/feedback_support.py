"""Running the feedback service in-process on a FixedClock; helpers shared with follow-up's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import httpx

from services.feedback.components import Components, ContactsFactory, SenderFactory, components
from services.feedback.config import FeedbackConfig
from services.feedback.domain import survey_id_for
from services.feedback.service import build_service, refresh_gauges
from shared.clock import FixedClock
from shared.runner import ServiceContext, create_app
from tests.integration.followup.followup_support import STAFF, T0, settings_for
from tests.support.auth import StaffAuth
from tests.support.services import serve_app, wait_until


def branch() -> str:
    return f"fb-{uuid4().hex[:10]}"


@dataclass
class Running:
    url: str
    clock: FixedClock
    ctx: ServiceContext
    http: httpx.AsyncClient
    bootstrap: str
    #: the client's identity; surveys come from events: ``auth.allow(branch)`` before reading one
    auth: StaffAuth

    @property
    def parts(self) -> Components:
        return components(self.ctx)

    async def tick(self) -> int:
        """Fire due deadlines (the survey windows)."""
        return await self.parts.scheduler.tick()

    async def dispatch(self) -> int:
        return await self.parts.dispatcher.tick()

    async def refresh_gauges(self) -> None:
        await refresh_gauges(self.ctx)

    async def answer(self, survey_id: UUID | str, body: dict[str, Any]) -> httpx.Response:
        return await self.http.post(f"/surveys/{survey_id}/responses", json=body)

    async def survey(self, survey_id: UUID | str) -> dict[str, Any]:
        response = await self.http.get(f"/surveys/{survey_id}")
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    async def wait_survey(
        self, subject: str, status: str | None = None, timeout: float = 15
    ) -> dict[str, Any]:
        survey_id = survey_id_for(subject)

        async def there() -> dict[str, Any] | None:
            response = await self.http.get(f"/surveys/{survey_id}")
            if response.status_code != 200:
                return None
            body: dict[str, Any] = response.json()
            return body if status is None or body["status"] == status else None

        return await wait_until(there, timeout, message=f"survey of {subject} ({status or 'any'})")

    async def db(self, query: str, *args: Any) -> list[Any]:
        async with self.ctx.pool.acquire() as conn:
            return list(await conn.fetch(query, *args))

    async def consumed(self, stream_id: str, version: int, timeout: float = 15) -> None:
        """Wait until the survey rules have taken ``stream_id`` up to ``version``."""

        async def done() -> bool:
            rows = await self.db("SELECT version FROM projection_positions WHERE stream_id = $1", stream_id)
            return bool(rows) and rows[0]["version"] >= version

        await wait_until(done, timeout, message=f"{stream_id} consumed up to v{version}")


@asynccontextmanager
async def feedback_service(
    database_url: str,
    bootstrap: str,
    *,
    clock: FixedClock | None = None,
    config: FeedbackConfig | None = None,
    sender: SenderFactory | None = None,
    contacts: ContactsFactory | None = None,
) -> AsyncIterator[Running]:
    """``contacts`` None: from the environment (the reception vault when ``RECEPTION_URL`` is set)."""
    clock = clock or FixedClock(T0)
    service = build_service(
        config=config or FeedbackConfig(dispatch_period=0.05), sender=sender, contacts=contacts
    )
    app = create_app(service, settings_for(database_url, bootstrap), clock=clock)
    auth = StaffAuth(STAFF)
    async with serve_app(app) as url, httpx.AsyncClient(base_url=url, timeout=10, auth=auth) as http:
        yield Running(url, clock, app.state.ctx, http, bootstrap, auth)
