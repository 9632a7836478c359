"""Assemble and run a service: PostgreSQL pool + migrations + event store, a FastStream Kafka
broker (relay producer and projection subscribers), a FastAPI app with /health, /ready, /metrics
and /docs, background tasks, and a graceful shutdown on SIGTERM.

Start-up needs only PostgreSQL: HTTP opens once the pool and migrations are done; Kafka is joined
in the background (``shared.kafka_link``) and ``/ready`` reports each part (``shared.readiness``).

Shutdown order matters: stop consuming (in-flight batches finish; their transaction and ack are
atomic with respect to the read model), then let the relay publish everything already stored,
then stop background tasks, the broker and the pool. Each step is bounded and one budget bounds
them all (``shared.shutdown``): a Kafka client waiting on a coordinator that is gone must not keep
the service from exiting before its supervisor's SIGKILL.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import uvicorn
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from faststream.kafka import KafkaBroker

from shared import catalogue, db_statements, tracing
from shared.audit import forget_written, install_audit, write_in_transaction
from shared.auth import install_auth
from shared.clock import Clock, SystemClock
from shared.crypto import KeyConfigError
from shared.dbfaults import DatabaseFaultMiddleware
from shared.eventstore import EventStore
from shared.fetch_pacing import FetchPacing
from shared.heap import settle_heap
from shared.http import install_error_handlers, metrics_response
from shared.idempotency import install_idempotency
from shared.kafka_link import KafkaLink
from shared.logs import configure_logging
from shared.migrations import MigrationChecksumError, apply_migrations
from shared.periodic import every
from shared.projection import Projection, ProjectionRunner
from shared.readiness import ready_response
from shared.registry import REGISTRY, EventRegistry
from shared.relay import OutboxRelay
from shared.relay_check import BrokerCheck
from shared.relay_kafka import kafka_publisher
from shared.request_guard import install_request_guard
from shared.settings import ServiceSettings, SettingsError, load_settings
from shared.shutdown import Shutdown
from shared.topic_wakeups import TopicWakeups
from shared.topology import DEFAULT_PORTS, events_topic

log = logging.getLogger(__name__)


#: FastAPI's own OpenTelemetry hooks (FastAPI ≥ 0.16x), off: HTTP spans come from
#: ``shared.tracing`` (the official instrumentation, only when tracing is configured), and
#: FastAPI's check whether a provider is configured costs ~17 µs on every request (three provider
#: lookups, each reading the environment). Older FastAPI has no such hooks and no such option.
NO_NATIVE_TELEMETRY: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters
    else {}
)


class StartupError(RuntimeError):
    """A dependency is unreachable or misconfigured; the message says which and where."""


@dataclass
class ServiceContext:
    """Everything a running service's routes and tasks need; ``request.app.state.ctx``."""

    name: str
    settings: ServiceSettings
    pool: asyncpg.Pool
    store: EventStore
    broker: KafkaBroker
    clock: Clock
    registry: EventRegistry
    #: the broker's background connection and each consumer's state (``/ready``)
    kafka: KafkaLink
    relay: OutboxRelay | None = None
    #: the service's own parts (``Service.components``), built once before anything consumes:
    #: read them through :func:`components_of` (typed), never by a name
    components: object = None
    #: what shared mechanisms build lazily per service (e.g. ``shared.texts``), by their own key
    extras: dict[str, Any] = field(default_factory=dict)
    #: wakes idle consumers when a relay announces their topic (a broker that holds fetches only)
    wakeups: TopicWakeups | None = None


BackgroundTask = Callable[[ServiceContext], Coroutine[Any, Any, None]]
Hook = Callable[[ServiceContext], Awaitable[None]]
ComponentsFactory = Callable[[ServiceContext], Awaitable[object]]

C = TypeVar("C")


def periodic(
    seconds: float, work: Hook, *, name: str, logger: logging.Logger | None = None
) -> BackgroundTask:
    """A background task doing ``work(ctx)`` now and every ``seconds`` (:func:`shared.periodic.every`:
    a failed round is logged and retried with backoff, never the end of the task)."""

    async def task(ctx: ServiceContext) -> None:
        await every(seconds, lambda: work(ctx), name=name, logger=logger)

    return task


def components_of(ctx: ServiceContext, kind: type[C]) -> C:
    """The running service's parts, as the type its ``build_service`` declared."""
    parts = ctx.components
    if not isinstance(parts, kind):
        raise RuntimeError(f"{ctx.name} has no {kind.__name__} (Service.components builds them at start-up)")
    return parts


def injected(kind: type[C]) -> Callable[..., Awaitable[C]]:
    """A FastAPI dependency giving a route the service's parts: ``Depends(injected(Components))``
    (``async``: FastAPI runs a plain ``def`` dependency in its thread pool, a hop per request)."""

    async def dependency(request: Request) -> C:
        return components_of(request.app.state.ctx, kind)

    return dependency


@dataclass
class Service:
    """What a service is made of: each service's ``build_service(settings)`` (its ``service.py``)
    returns one, and ``python -m services.<name>`` calls :func:`main` with it.

    Start-up order: migrations, then ``components`` (the service's parts, built once and stored on
    the context: projections, background tasks and routes read them with :func:`components_of`),
    then ``projections`` and ``on_startup``, then the relay and ``background`` tasks.
    """

    name: str
    routers: Sequence[APIRouter] = ()
    components: ComponentsFactory | None = None
    projections: Callable[[ServiceContext], Sequence[Projection]] | None = None
    migrations: Path | None = None
    publishes: bool = True
    background: Sequence[BackgroundTask] = ()
    #: start-up work on the built parts before anything is served (e.g. reception re-applies its
    #: erasure log to the vault); a :class:`~shared.crypto.KeyConfigError` refuses to start
    on_startup: Sequence[Hook] = ()
    description: str = ""
    #: configuration checks run by ``create_app`` before anything starts (e.g. the keys a service
    #: needs): a :class:`~shared.crypto.KeyConfigError` stops ``main`` with one line, exit 1
    checks: Sequence[Callable[[], object]] = ()

    @property
    def schema(self) -> str:
        return self.name

    @property
    def topic(self) -> str:
        return events_topic(self.name)


async def _refusing_bad_keys(name: str, step: Awaitable[C]) -> C:
    try:
        return await step
    except KeyConfigError as exc:  # e.g. the vault's master key: refuse to start
        log.error("%s cannot start: %s", name, exc)
        raise StartupError(str(exc)) from None


def describe_dsn(dsn: str) -> str:
    """The DSN without credentials, for error messages and logs."""
    head, _, tail = dsn.partition("://")
    return f"{head}://{tail.rpartition('@')[2]}" if tail else dsn


async def _connect_pool(service: Service, settings: ServiceSettings) -> asyncpg.Pool:
    try:
        pool = await asyncpg.create_pool(
            settings.database_url,
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            server_settings={"search_path": service.schema, "application_name": service.name},
            timeout=10,
            init=db_statements.track,
            reset=keep_session,
        )
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
        raise StartupError(
            f"cannot reach PostgreSQL at DATABASE_URL={describe_dsn(settings.database_url)}: {exc}"
        ) from None
    assert pool is not None
    return pool


async def keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset on release: nothing beyond what asyncpg always does (roll back an open
    transaction, drop Python-side listeners).

    asyncpg's default sends ``SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL``
    on every release: one more round trip per checkout, for session state this service's pooled
    connections never keep. Commands use ``SET LOCAL`` and transaction-level advisory locks (gone
    at COMMIT/ROLLBACK); cursors live in transactions; the relay's ``LISTEN``, its leader lock and
    its session ``SET`` are on its own connection, not the pool's; migrations unlock their session
    lock in ``finally`` (a connection that fails there is broken and dropped by the pool). Code
    that changes session state on a pooled connection must undo it (``RESET``) itself."""


def _kafka_broker(settings: ServiceSettings) -> KafkaBroker:
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        acks="all",
        enable_idempotence=False,  # the embedded broker has no InitProducerId
        linger_ms=settings.kafka_linger_ms,
        request_timeout_ms=15_000,
        # a topic that vanished and was re-created (shared.relay_repair) is seen within seconds:
        # a consumer assigned nothing while its topic was missing re-joins once it is back
        metadata_max_age_ms=5_000,
        # never create a missing topic when a subscriber (re)starts: FastStream would create it
        # with one partition, and a re-created topic must have deploy/kafka's shape
        # (shared.kafka_topics; the relay and HQ re-create their topics)
        allow_auto_create_topics=False,
        graceful_timeout=15.0,
        log_level=logging.DEBUG,  # per-message "Received/Processed" lines are noise at INFO
        logger=logging.getLogger("faststream.kafka"),  # through the root handler (shared.logs)
    )


async def _stop_all(subscribers: Sequence[Any]) -> None:
    """Stop every consumer at once (each may wait for its in-flight batch); failures are ignored:
    what a consumer had not committed is in PostgreSQL's positions, applied again after a restart."""
    await asyncio.gather(*(sub.stop() for sub in list(subscribers)), return_exceptions=True)


def create_app(
    service: Service,
    settings: ServiceSettings | None = None,
    *,
    clock: Clock | None = None,
    registry: EventRegistry = REGISTRY,
    freeze_heap: bool = False,
) -> FastAPI:
    """The service's app; ``freeze_heap``: the process serves only this app (``main``), so what
    start-up made is frozen for the garbage collector once it is done (``shared.heap``)."""
    settings = settings or load_settings(default_port=DEFAULT_PORTS.get(service.name))
    clock = clock or SystemClock()
    for check in service.checks:
        check()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            pool = await _connect_pool(service, settings)
        except StartupError as exc:
            log.error("%s cannot start: %s", service.name, exc)
            raise
        tasks: list[asyncio.Task[None]] = []
        broker = _kafka_broker(settings)
        relay_task: asyncio.Task[None] | None = None
        try:
            async with pool.acquire() as conn:
                try:
                    await apply_migrations(conn, service.schema, service.migrations)
                except MigrationChecksumError as exc:  # an applied file was edited: refuse
                    log.error("%s cannot start: %s", service.name, exc)
                    raise StartupError(str(exc)) from None
            store = EventStore(
                pool,
                channel=f"bc_events_{service.schema}",
                registry=registry,
                max_event_bytes=settings.max_event_bytes,
                before_commit=write_in_transaction,  # a command's audit row commits with it
                commit_failed=forget_written,
                writer_name=service.name,  # the pool's application_name (shared.horizon)
            )
            ctx = ServiceContext(
                service.name, settings, pool, store, broker, clock, registry, KafkaLink(broker, service.name)
            )
            app.state.ctx = ctx
            pacing = FetchPacing.of(settings)
            if not pacing.broker_answers_early:
                ctx.wakeups = TopicWakeups(settings.database_url, service.name)
                ctx.wakeups.start()
            if service.components is not None:
                ctx.components = await _refusing_bad_keys(service.name, service.components(ctx))
            consumed: list[str] = []
            for projection in service.projections(ctx) if service.projections else ():
                consumed += projection.topics
                ProjectionRunner(
                    projection,
                    service=service.name,
                    pool=pool,
                    broker=broker,
                    registry=registry,
                    clock=clock,
                    max_attempts=settings.projection_max_attempts,
                    max_message_bytes=settings.max_event_bytes + 4096,
                    on_commit=store.notifier.poke,
                    wakeups=ctx.wakeups,
                ).subscribe(
                    pacing=pacing,
                    max_records=settings.kafka_max_batch,
                    session_timeout_ms=settings.kafka_session_timeout_ms,
                    heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
                    group_instance_id=settings.kafka_group_instance_id,
                )
            for hook in service.on_startup:
                await _refusing_bad_keys(service.name, hook(ctx))
            if service.publishes:
                dsn = settings.database_url

                async def connect() -> asyncpg.Connection:
                    return await asyncpg.connect(
                        dsn, server_settings={"search_path": service.schema}, timeout=10
                    )

                ctx.relay = OutboxRelay(
                    store,
                    connect,
                    kafka_publisher(broker),
                    topic=service.topic,
                    service=service.name,
                    batch_size=settings.relay_batch_size,
                    # a broker that holds fetches: consumers of announced topics rest between batches
                    announce_every=not settings.kafka_fetch_answers_early,
                    listener=ctx.wakeups,  # one listening connection per process
                    check=BrokerCheck(
                        settings.kafka_bootstrap_servers,
                        service.topic,
                        default_partitions=settings.kafka_topic_partitions,
                        consumed=consumed,
                    ),
                )
                relay_task = asyncio.create_task(ctx.relay.run(), name=f"{service.name}-relay")
            tasks = [asyncio.create_task(task(ctx)) for task in service.background]
            # Kafka last and in the background: commands need only PostgreSQL (shared.kafka_link)
            ctx.kafka.start()
            if freeze_heap:
                settle_heap()
            log.info("%s ready on port %d", service.name, settings.http_port)
            yield
        finally:
            log.info("%s stopping", service.name)
            ctx_or_none = getattr(app.state, "ctx", None)
            shutdown = Shutdown(service.name)
            kafka = getattr(ctx_or_none, "kafka", None)
            if kafka is not None:
                await shutdown.step("Kafka link", kafka.stop(), at_most=1)
            await shutdown.step("consumers", _stop_all(broker.subscribers), at_most=4)
            relay = getattr(ctx_or_none, "relay", None)
            if relay is not None and relay_task is not None:
                await shutdown.step("relay drain", relay.stop(relay_task, timeout=5), at_most=6)
            for task in tasks:
                task.cancel()
            await shutdown.step("background tasks", asyncio.gather(*tasks, return_exceptions=True), at_most=1)
            await shutdown.step("Kafka producer", broker.stop(), at_most=2)
            ctx_store = getattr(ctx_or_none, "store", None)
            if ctx_store is not None:
                await shutdown.step("commit notifier", ctx_store.notifier.close(), at_most=1)
            wakeups = getattr(ctx_or_none, "wakeups", None)
            if wakeups is not None:
                await shutdown.step("topic wakeups", wakeups.close(), at_most=1)
            if not await shutdown.step("database pool", pool.close(), at_most=max(1.0, shutdown.left())):
                pool.terminate()
            log.info("%s stopped", service.name)

    app = FastAPI(
        title=f"BranchCare {service.name}",
        description=service.description,
        lifespan=lifespan,
        **NO_NATIVE_TELEMETRY,
    )
    install_error_handlers(app)
    tracing.instrument_app(app)  # HTTP spans, only when tracing is on (shared/tracing.py)

    @app.get("/health", tags=["operations"])
    async def health() -> dict[str, str]:
        return {"status": "ok", "service": service.name}

    @app.get("/ready", tags=["operations"])
    async def ready(request: Request) -> Response:
        """Database, broker, relay and each consumer; 503 only when commands cannot be served."""
        return await ready_response(request.app.state.ctx)

    @app.get("/metrics", tags=["operations"], include_in_schema=False)
    async def metrics() -> Response:
        return metrics_response()

    for router in service.routers:
        app.include_router(router)
    app.include_router(catalogue.router(service.name))  # GET /asyncapi.json
    install_idempotency(app)  # creates take an Idempotency-Key (documented once in OpenAPI)
    # bodies are bounded and JSON (413/415) before anything parses them; every route needs a
    # bearer token (AuthConfigError: no usable key, refuse to start); the audit middleware is
    # added last, so it is the outermost and records the final status; it also binds the
    # request's correlation id for its log lines (shared.logs.correlation_id_var)
    install_request_guard(app, max_body_bytes=settings.max_request_bytes)
    install_auth(app)
    # a database failure is a 503 JSON saying whether anything was recorded; inside the audit
    # middleware, so the audit row says 503 (written late while PostgreSQL is away)
    app.add_middleware(DatabaseFaultMiddleware, service=service.name)
    install_audit(app)
    return app


async def context(request: Request) -> ServiceContext:
    """FastAPI dependency: the running service's context (async: FastAPI would run a plain ``def``
    dependency in its thread pool, a thread hop on every request)."""
    ctx: ServiceContext = request.app.state.ctx
    return ctx


#: how long the services keep an idle HTTP connection open (see :func:`server_config`)
KEEP_ALIVE_SECONDS = 75


def server_config(app: Any, host: str, port: int, log_level: str = "INFO") -> uvicorn.Config:
    """How every service is served (the benchmark's reference endpoint uses it too).

    ``loop``/``http`` "auto": uvloop and httptools (dependencies) when importable, else asyncio and
    h11. Idle keep-alive connections are kept 75 s (``KEEP_ALIVE_SECONDS``), longer than common
    clients keep theirs (httpx 5 s, aiohttp 15 s) and a load balancer's 60 s: the client closes an
    idle connection first. At uvicorn's 5 s a client reusing a connection just as the server closed
    it got a reset instead of an answer (measured: 9 of 3,000 creates at 300/s with httpx)."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="auto",
        http="auto",
        log_level=log_level.lower(),
        log_config=None,  # uvicorn's lines go through the root handler (shared.logs)
        access_log=False,
        timeout_graceful_shutdown=20,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )


def main(service: Service) -> None:
    """Run a service under uvicorn; exits 1 with a one-line reason when it cannot start."""
    try:
        settings = load_settings(default_port=DEFAULT_PORTS.get(service.name))
    except SettingsError as exc:
        print(f"{service.name}: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    configure_logging(service.name, settings.log_level)  # JSON or text lines, PII scrubbed
    tracing.setup(service.name)  # OTLP export when OTEL_EXPORTER_OTLP_ENDPOINT is set, else off
    try:
        app = create_app(service, settings, freeze_heap=True)
    except KeyConfigError as exc:  # AuthConfigError included: no JWT secret, a dev key in prod...
        print(f"{service.name}: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    config = server_config(app, settings.http_host, settings.http_port, settings.log_level)
    server = uvicorn.Server(config)
    try:
        server.run()
    except StartupError as exc:
        print(f"{service.name}: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    if not server.started:
        raise SystemExit(1)
