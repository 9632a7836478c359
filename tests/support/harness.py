"""One harness for running any service against the real PostgreSQL and the real broker.

Every service runs the way ``python -m services.<name>`` runs it: ``build_service(settings)`` of its
``service.py`` with its own settings class, then ``shared.runner.create_app`` with the shared
:class:`~shared.settings.ServiceSettings`. The harness serves that app in the test's event loop
(uvicorn over TCP, on a :class:`~shared.clock.FixedClock` the test moves), or starts the same service
as a process (:func:`as_process`: the settings a test gives as environment variables, the system
clock, production's periods: nobody ticks a process).
Either way the test gets one :class:`Running`: its URL and client (with a member of staff's token),
its database, its topic, its clock and, in-process, its context and parts.

What differs between services is data only, a :class:`Recipe` each in :data:`RECIPES`: the test
values of the service's own settings (long scheduler periods: tests tick by hand), the instant its
clock starts at, where its parts keep the command handling and the scheduler, the path of its
resource commands, and the setting naming a consumer group that must be new at each start.

Usage (the ``run_service`` fixture of tests/integration/conftest.py binds the database and broker)::

    async with run_service("complaint", clock=FixedClock(T0)) as svc:
        case = await svc.post(f"/branches/{b}/complaints", body)
        await svc.ok(case.json()["complaint_id"], "acknowledge")
        await svc.advance(minutes=30)  # move the clock and fire what became due

Domain verbs (register a customer, queue a visit, wait for a survey) are plain functions of each
test package taking a ``Running``; nothing here knows a service's routes beyond ``Recipe.commands``.
"""

from __future__ import annotations

import asyncio
import importlib
import re
import typing
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
from fastapi import FastAPI
from pydantic_settings import BaseSettings

from shared.clock import Clock, FixedClock
from shared.envelope import Envelope
from shared.runner import Service, ServiceContext, create_app
from shared.settings import ServiceSettings
from shared.topology import events_topic
from tests.support.auth import StaffAuth
from tests.support.kafka import published
from tests.support.services import ServiceProcess, serve_app, wait_until

#: who a harness's client acts as: the branch roles, in every branch it worked in (``StaffAuth``)
STAFF = "lm-007"

#: the shared settings every test service gets (the rest comes from the environment, as in
#: production): Tansu holds a consumer-group join for half the session timeout, so it is short;
#: small pools, as the test database server is shared by every worker (and every test run)
TEST_SERVICE_SETTINGS: Mapping[str, Any] = {
    "http_host": "127.0.0.1",
    "db_pool_min": 1,
    "db_pool_max": 10,
    "kafka_session_timeout_ms": 2000,
    "kafka_heartbeat_interval_ms": 500,
}

_HOUR = 3600  # a period no test waits for: tests tick by hand


@dataclass(frozen=True)
class Recipe:
    """What one service needs in tests, as data."""

    name: str
    #: the service's own settings for tests (fields of the settings class its ``build_service`` takes)
    settings: Mapping[str, Any] = field(default_factory=dict)
    #: where a test's clock starts (a working hour in the branch's time zone)
    t0: datetime = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    #: the attribute of the service's parts (``ctx.components``) doing its command handling
    #: ("": the parts are the application)
    app: str = "app"
    #: the attribute of the parts whose ``tick()`` fires what became due ("": no scheduler)
    ticks: str = "scheduler"
    #: ``Running.ok(id, action)`` posts to ``{commands}/{id}/{action}``
    commands: str = ""
    #: a setting naming a consumer group: set to a new name at every start (Tansu lets a group
    #: that existed before re-join only slowly, in seconds)
    fresh_group: str | None = None


RECIPES: Mapping[str, Recipe] = {
    r.name: r
    for r in (
        Recipe(
            "complaint",
            settings={"scheduler_period_seconds": _HOUR, "gauge_period_seconds": _HOUR},
            t0=datetime(2026, 11, 26, 1, 0, tzinfo=UTC),  # a Thursday, 09:00 in Shanghai
            app="",
            commands="/complaints",
            fresh_group="reactions_name",
        ),
        Recipe(
            "reception",
            settings={"scheduler_period_seconds": _HOUR, "gauge_period_seconds": _HOUR},
            ticks="app",
            commands="/visits",
        ),
        Recipe("followup", t0=datetime(2026, 3, 2, 2, 0, tzinfo=UTC)),
        Recipe("feedback", settings={"dispatch_period": 0.05}, t0=datetime(2026, 3, 2, 2, 0, tzinfo=UTC)),
        Recipe("hq", settings={"metrics_refresh_seconds": _HOUR}, ticks=""),
        Recipe("hqfeed", ticks=""),
    )
}


def settings_class(name: str) -> type[BaseSettings]:
    """The settings class ``services.<name>.service.build_service`` takes (its ``settings`` hint)."""
    hints = typing.get_type_hints(_build(name))
    for candidate in typing.get_args(hints["settings"]) or (hints["settings"],):
        if isinstance(candidate, type) and issubclass(candidate, BaseSettings):
            return candidate
    raise TypeError(f"services.{name}.service.build_service takes no pydantic settings")


def _build(name: str) -> Callable[..., Service]:
    build: Callable[..., Service] = importlib.import_module(f"services.{name}.service").build_service
    return build


def _overrides(recipe: Recipe, settings: Mapping[str, Any]) -> dict[str, Any]:
    values = {**recipe.settings, **settings}
    if recipe.fresh_group is not None and recipe.fresh_group not in settings:
        values[recipe.fresh_group] = f"{recipe.fresh_group.removesuffix('_name')}_{uuid4().hex[:8]}"
    return values


def service_settings(database_url: str, bootstrap: str, **overrides: Any) -> ServiceSettings:
    """The shared settings of a test service (``TEST_SERVICE_SETTINGS``, then ``overrides``)."""
    values = {**TEST_SERVICE_SETTINGS, **overrides}
    return ServiceSettings(database_url=database_url, kafka_bootstrap_servers=bootstrap, **values)


def build_app(
    name: str,
    database_url: str,
    bootstrap: str,
    *,
    clock: Clock | None = None,
    settings: Mapping[str, Any] | None = None,
    shared: Mapping[str, Any] | None = None,
    **parts: Any,
) -> FastAPI:
    """The service's app as ``python -m services.<name>`` builds it, from test settings: ``settings``
    (its own, over the recipe's; the rest from the environment), ``shared`` (ServiceSettings) and
    ``parts`` (other keyword arguments of its ``build_service``, e.g. feedback's ``sender``)."""
    recipe = RECIPES[name]
    own = settings_class(name)(**_overrides(recipe, settings or {}))
    service = _build(name)(own, **parts)
    return create_app(
        service,
        service_settings(database_url, bootstrap, **(shared or {})),
        clock=clock or FixedClock(recipe.t0),
    )


@dataclass
class Running:
    """A service running for a test: in-process (``app``, ``ctx``, ``parts``) or as a process."""

    recipe: Recipe
    url: str
    http: httpx.AsyncClient
    database_url: str
    bootstrap: str
    #: the client's member of staff (None: the client sends no token, each request names its own)
    auth: StaffAuth | None
    #: the service's clock (in-process); a process runs on the system clock
    clock: FixedClock | None = None
    asgi: FastAPI | None = None
    process: ServiceProcess | None = None
    #: values for the path parameters of the service's routes, as a test seeded them (``path``)
    params: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.recipe.name

    @property
    def topic(self) -> str:
        return events_topic(self.name)

    @property
    def ctx(self) -> ServiceContext:
        if self.asgi is None:
            raise RuntimeError(f"{self.name} runs as a process: no context to reach into")
        ctx: ServiceContext = self.asgi.state.ctx
        return ctx

    @property
    def parts(self) -> Any:
        """The service's parts (``Service.components``), as its ``build_service`` built them."""
        return self.ctx.components

    @property
    def app(self) -> Any:
        """The service's command handling (``Recipe.app`` of its parts)."""
        return _attr(self.parts, self.recipe.app)

    # ------------------------------------------------------------------------------- HTTP

    def path(self, template: str, overrides: Mapping[str, str] | None = None) -> str:
        """A route's path template with ``params`` (then ``overrides``) filled in."""
        values = {**self.params, **(overrides or {})}
        return _PARAM.sub(lambda m: values[m.group(1)], template)

    async def post(self, path: str, body: dict[str, Any] | None = None, **headers: str) -> httpx.Response:
        return await self.http.post(path, json=body, headers=headers)

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.http.get(path, params=params)

    async def ok(self, resource_id: str, action: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """``POST {Recipe.commands}/{resource_id}/{action}``, which must answer 200; its body."""
        response = await self.post(f"{self.recipe.commands}/{resource_id}/{action}", body)
        assert response.status_code == 200, f"{action}: {response.status_code} {response.text}"
        return response.json()  # type: ignore[no-any-return]

    # --------------------------------------------------------------------------- database

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        async with self.ctx.pool.acquire() as conn:
            return list(await conn.fetch(sql, *args))

    async def execute(self, sql: str, *args: Any) -> str:
        async with self.ctx.pool.acquire() as conn:
            result: str = await conn.execute(sql, *args)
            return result

    async def stream_types(self, stream_id: str) -> list[str]:
        """The event types of one stream of the service's store, in order."""
        return [e.type for e in await self.ctx.store.read_stream(stream_id)]

    async def consumed(self, stream_id: str, version: int, timeout: float = 15) -> None:
        """Wait until the service's projections have taken ``stream_id`` up to ``version``."""

        async def done() -> bool:
            rows = await self.fetch(
                "SELECT version FROM projection_positions WHERE stream_id = $1", stream_id
            )
            return bool(rows) and rows[0]["version"] >= version

        await wait_until(done, timeout, message=f"{stream_id} consumed up to v{version}")

    # ------------------------------------------------------------------------------ broker

    async def published(
        self, stream_id: str, count: int, timeout: float = 20, *, topic: str | None = None
    ) -> list[Envelope]:
        """The stream's events as they arrived on the service's topic (waits for ``count``)."""
        return await published(
            self.bootstrap, topic or self.topic, lambda e: e.stream_id == stream_id, count, timeout
        )

    # ------------------------------------------------------------------------------- time

    async def tick(self) -> int:
        """Fire what became due (the scheduler's round, without waiting for its period)."""
        fired: int = await _attr(self.parts, self.recipe.ticks).tick()
        return fired

    async def advance(self, minutes: float = 0, seconds: float = 0) -> int:
        """Move the clock and fire what became due (no sleeping)."""
        assert self.clock is not None, f"{self.name} runs on the system clock"
        self.clock.advance(timedelta(minutes=minutes, seconds=seconds))
        return await self.tick()


_PARAM = re.compile(r"{(\w+)}")


def _attr(obj: Any, path: str) -> Any:
    for name in filter(None, path.split(".")):
        obj = getattr(obj, name)
    return obj


def _client(
    url: str, auth: StaffAuth | None, headers: Mapping[str, str] | None, timeout: float = 15
) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, timeout=timeout, auth=auth, headers=dict(headers or {}))


@asynccontextmanager
async def running(
    name: str,
    database_url: str,
    bootstrap: str,
    *,
    clock: Clock | None = None,
    settings: Mapping[str, Any] | None = None,
    shared: Mapping[str, Any] | None = None,
    staff: str | StaffAuth | None = STAFF,
    headers: Mapping[str, str] | None = None,
    timeout: float = 15,
    **parts: Any,
) -> AsyncIterator[Running]:
    """The service in this event loop on ``clock`` (default: a FixedClock at ``Recipe.t0``).

    ``staff``: the member of staff the client acts as (a ``StaffAuth`` to keep one identity across
    restarts; None: no token unless a request or ``headers`` carries one). ``timeout``: the client's."""
    recipe = RECIPES[name]
    clock = clock or FixedClock(recipe.t0)
    app = build_app(name, database_url, bootstrap, clock=clock, settings=settings, shared=shared, **parts)
    auth = StaffAuth(staff) if isinstance(staff, str) else staff
    fixed = clock if isinstance(clock, FixedClock) else None
    async with serve_app(app) as url, _client(url, auth, headers, timeout) as http:
        yield Running(recipe, url, http, database_url, bootstrap, auth, fixed, asgi=app)


def process_env(name: str, settings: Mapping[str, Any] | None = None) -> dict[str, str]:
    """``settings`` (the service's own) as the environment variables its process reads.

    The recipe's settings are not applied: they make a service a test drives by hand (long
    scheduler periods, a consumer group per start), and nobody ticks a process; it runs with the
    defaults of production, on the system clock, with the shared test settings of ``ServiceProcess``."""
    prefix = str(settings_class(name).model_config.get("env_prefix", ""))
    return {
        f"{prefix}{key}".upper(): str(value).lower() if isinstance(value, bool) else str(value)
        for key, value in (settings or {}).items()
    }


def service_process(
    name: str,
    database_url: str,
    bootstrap: str,
    *,
    settings: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    log_dir: Path | None = None,
) -> ServiceProcess:
    """``python -m services.<name>`` not started yet, its own ``settings`` as environment variables
    (``env``: anything else): for tests that start, signal, kill and restart the process themselves."""
    return ServiceProcess(
        name,
        database_url=database_url,
        kafka_bootstrap_servers=bootstrap,
        env={**process_env(name, settings), **(env or {})},
        log_dir=log_dir,
    )


@asynccontextmanager
async def as_process(
    name: str,
    database_url: str,
    bootstrap: str,
    *,
    settings: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    staff: str | StaffAuth | None = STAFF,
    headers: Mapping[str, str] | None = None,
    log_dir: Path | None = None,
) -> AsyncIterator[Running]:
    """``python -m services.<name>``, its own ``settings`` as environment variables (``env``: anything
    else, e.g. ``SLA_POLICIES_FILE``); terminated after. ``service_process``: one the test starts,
    signals and stops itself."""
    process = service_process(name, database_url, bootstrap, settings=settings, env=env, log_dir=log_dir)
    auth = StaffAuth(staff) if isinstance(staff, str) else staff
    async with _client(process.url, auth, headers) as http:
        async with process:
            yield Running(RECIPES[name], process.url, http, database_url, bootstrap, auth, process=process)


@asynccontextmanager
async def together(*services: AbstractAsyncContextManager[Running]) -> AsyncIterator[list[Running]]:
    """Several services started side by side (a process's start is mostly its imports; one that
    needs another running finds it by its retries, as in production), stopped in reverse order,
    as nested ``async with`` would; if one fails to start, the others are stopped again."""
    async with AsyncExitStack() as stack:
        started = await asyncio.gather(*(s.__aenter__() for s in services), return_exceptions=True)
        for service, result in zip(services, started, strict=True):
            if not isinstance(result, BaseException):
                stack.push_async_exit(service)
        for result in started:
            if isinstance(result, BaseException):
                raise result
        yield [r for r in started if not isinstance(r, BaseException)]


RunService = Callable[..., AbstractAsyncContextManager[Running]]
"""``async with run_service("complaint", clock=...) as svc``: a service on the test's database and
the session's broker (the ``run_service`` fixture)."""
