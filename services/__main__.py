"""Dev runner: ``python -m services`` (what ``make run`` runs).

Starts the infrastructure (embedded PostgreSQL and a Tansu broker, unless ``DATABASE_URL`` /
``KAFKA_BOOTSTRAP_SERVERS`` are set), creates the topics, starts every service package that has
a ``__main__.py`` as ``python -m services.<name>``, waits for their ``/health``, prints their
URLs and ready-made staff tokens (``shared.devtokens``, development mode only), and stays up until
Ctrl-C or SIGTERM, then stops everything in reverse order.

The children run with ``BRANCHCARE_DEV_MODE=1`` unless the environment says otherwise: without
``BRANCHCARE_JWT_SECRET`` / ``BRANCHCARE_PII_KEY`` / ``BRANCHCARE_MASTER_KEY`` they use the public
development keys (never in production), and the printed tokens are signed with the same secret.
The feedback service gets ``RECEPTION_URL`` so its SMS sender resolves phone numbers in the vault.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

import httpx

import services
from shared.auth.config import DEV_JWT_SECRET, JWT_SECRET_ENV
from shared.cli._common import INFRA_FILE, write_dev_infra
from shared.devstack import (
    EmbeddedPostgres,
    TansuBroker,
    create_topics,
    die_with_parent,
    ensure_database,
    port_is_free,
    start_embedded_postgres,
    wait_http_ok,
)
from shared.devtokens import DEMO_BRANCH, dev_secret, dev_tokens, render_shell
from shared.topology import CONTEXTS, DEFAULT_PARTITIONS, DEFAULT_PORTS, all_topics, port_env_var

REPO_ROOT = Path(services.__file__).resolve().parent.parent
DEFAULT_STATE_DIR = REPO_ROOT / ".devstack"
#: same name as shared.crypto.DEV_MODE_ENV; the runner does not import the services' code
DEV_MODE_ENV = "BRANCHCARE_DEV_MODE"
#: same name as shared.contacts.RECEPTION_URL_ENV (read by feedback's contact resolver)
RECEPTION_URL_ENV = "RECEPTION_URL"
DATABASE_NAME = "branchcare"
DEFAULT_KAFKA_PORT = 9092
EMBEDDED_BROKER_SESSION = {
    "KAFKA_SESSION_TIMEOUT_MS": "2000",
    "KAFKA_HEARTBEAT_INTERVAL_MS": "500",
    # Tansu holds a fetch for its whole max wait: idle consumers pause until woken (shared.fetch_pacing)
    "KAFKA_FETCH_ANSWERS_EARLY": "false",
}
EXTRA_PORTS_FROM = 8080
STOP_GRACE_SECONDS = 15.0
TOKEN_TTL = timedelta(hours=12)
TAIL_LINES = 30
#: what the banner offers to open, first answering wins: an API's docs, else the service's page
PAGES = ("/docs", "/")

_COLOURS = ("36", "33", "35", "32", "34", "31")


class StartupError(RuntimeError):
    """The stack could not come up; the message says what to do."""


def say(message: str) -> None:
    print(f"[devstack] {message}", flush=True)


def discover_services() -> list[str]:
    """Service packages under ``services/`` with a ``__main__.py``: known contexts first."""
    root = Path(services.__file__).resolve().parent
    found = {
        path.parent.name
        for path in root.glob("*/__main__.py")
        if (path.parent / "__init__.py").exists()
        and path.parent.name.isidentifier()
        and not (path.parent / "NOT_A_SERVICE").exists()  # a tool, e.g. the simulator
    }
    known = [name for name in CONTEXTS if name in found]
    return known + sorted(found - set(known))


def service_port(name: str, taken: set[int]) -> int:
    """``<NAME>_PORT`` from the environment, else the context's default port, else the first
    free port from 8080 up (a service that is not a bounded context, e.g. a web console)."""
    raw = os.environ.get(port_env_var(name))
    if raw:
        try:
            return int(raw)
        except ValueError:
            raise StartupError(f"{port_env_var(name)}={raw!r} is not a port number") from None
    if name in DEFAULT_PORTS:
        return DEFAULT_PORTS[name]
    port = EXTRA_PORTS_FROM
    while port in taken or port in DEFAULT_PORTS.values() or not port_is_free(port, "0.0.0.0"):
        port += 1
    return port


def redact(url: str) -> str:
    """A DSN without its password, for printing."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass
class Service:
    """One service subprocess, its output pump and the last lines it printed."""

    name: str
    port: int
    colour: str
    label_width: int
    log_path: Path
    proc: asyncio.subprocess.Process | None = None
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))
    pump: asyncio.Task[None] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def start(self, env: dict[str, str]) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", f"services.{self.name}",
            cwd=REPO_ROOT,
            env={**env, "HTTP_PORT": str(self.port)},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            limit=1 << 20,
            preexec_fn=die_with_parent,  # own session; SIGTERM if the runner dies
        )  # fmt: skip
        self.pump = asyncio.create_task(self._pump(), name=f"pump-{self.name}")

    async def _pump(self) -> None:
        """Copy the child's output to the console (prefixed) and to its log file."""
        assert self.proc is not None and self.proc.stdout is not None
        use_colour = sys.stdout.isatty()
        label = f"{self.name:<{self.label_width}} |"
        prefix = f"\033[{self.colour}m{label}\033[0m " if use_colour else f"{label} "
        log = self._open_log()
        try:
            while True:
                try:
                    raw = await self.proc.stdout.readline()
                except ValueError:  # a line longer than the limit: take what is buffered
                    raw = await self.proc.stdout.read(1 << 20)
                if not raw:
                    return
                line = raw.decode(errors="replace").rstrip("\n")
                self.tail.append(line)
                log.write(line + "\n")
                log.flush()
                print(prefix + line, flush=True)
        finally:
            log.close()

    def _open_log(self) -> IO[str]:
        return open(self.log_path, "w", encoding="utf-8")

    def report_tail(self, headline: str) -> None:
        say(f"{headline} — last lines of {self.name} (full log: {self.log_path}):")
        for line in self.tail or ["(no output)"]:
            print(f"    {line}", flush=True)


@dataclass
class Infra:
    """Addresses of PostgreSQL and Kafka, and the embedded processes if the runner owns them."""

    state_dir: Path
    database_url: str = ""
    bootstrap_servers: str = ""
    pg: EmbeddedPostgres | None = None
    broker: TansuBroker | None = None

    async def start(self, *, embedded_allowed: bool) -> None:
        env_db = os.environ.get("DATABASE_URL")
        env_kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if not embedded_allowed and not (env_db and env_kafka):
            raise StartupError(
                "--no-embedded needs DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS in the environment"
            )
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if env_db:
            self.database_url = env_db
        else:
            say(f"starting embedded PostgreSQL (data in {self.state_dir / 'pg'}) ...")
            try:
                self.pg = start_embedded_postgres(self.state_dir / "pg")
                self.database_url = await ensure_database(self.pg.url, DATABASE_NAME)
            except (RuntimeError, OSError) as exc:
                raise StartupError(f"embedded PostgreSQL did not start: {exc}") from exc
        if env_kafka:
            self.bootstrap_servers = env_kafka
        else:
            port = DEFAULT_KAFKA_PORT if port_is_free(DEFAULT_KAFKA_PORT) else None
            say("starting embedded Kafka-protocol broker (tansu, memory storage) ...")
            try:
                self.broker = TansuBroker.start(port, log_dir=self.log_dir)
            except (RuntimeError, TimeoutError, OSError) as exc:
                raise StartupError(f"embedded broker did not start: {exc}") from exc
            self.bootstrap_servers = self.broker.bootstrap_servers
        topics = all_topics()
        try:
            await asyncio.wait_for(create_topics(self.bootstrap_servers, topics), 30)
        except Exception as exc:
            raise StartupError(f"no topics on {self.bootstrap_servers}: {exc}") from exc
        say(f"{len(topics)} topics ready on {self.bootstrap_servers}")
        # `branchcare` commands find this stack with no arguments (removed again by stop())
        write_dev_infra(self.state_dir, self.database_url, self.bootstrap_servers)

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    def stop(self) -> None:
        (self.state_dir / INFRA_FILE).unlink(missing_ok=True)
        if self.broker is not None:
            say("stopping the broker ...")
            self.broker.stop()
        if self.pg is not None:
            say("stopping PostgreSQL ...")
            self.pg.stop()

    def describe(self) -> list[tuple[str, str]]:
        kafka = self.bootstrap_servers + (
            f"  (embedded tansu, log {self.broker.log_path})" if self.broker else "  (from env)"
        )
        db = redact(self.database_url) + (
            f"  (embedded, data {self.pg.data_dir})" if self.pg else "  (from env)"
        )
        return [("Kafka", kafka), ("PostgreSQL", db)]


def token_lines(env: dict[str, str], running: list[Service]) -> list[str]:
    """The ready-made staff tokens (``shared.devtokens``, signed with the secret the children
    verify) and a curl to try one, against the running services' ports; nothing outside
    development mode."""
    if env.get(DEV_MODE_ENV) != "1":
        return [f"  {DEV_MODE_ENV} is not 1: no development tokens (sign your own with {JWT_SECRET_ENV})."]
    secret = dev_secret(env)
    now = datetime.now(UTC).replace(microsecond=0)
    tokens = dev_tokens(secret, ttl=TOKEN_TTL, now=now)
    urls = {s.name: s.base_url for s in running}
    shell = render_shell(
        tokens, expires=now + TOKEN_TTL, using_dev_secret=secret == DEV_JWT_SECRET, base_urls=urls
    )
    lines = ["  Staff tokens (paste the export lines into your shell; a token into the console's sign-in):"]
    lines += [f"    {line}" for line in shell.splitlines()]
    if "complaint" in urls:
        lines.append(
            f'  Try it now: curl -s -H "Authorization: Bearer $BC_TOKEN_LOBBY_B001" '
            f"{urls['complaint']}/branches/{DEMO_BRANCH}/complaints"
        )
    return lines


def simulator_line(running: list[Service]) -> str | None:
    """How to drive the running services with simulated branches: the simulator reads the same
    ``<NAME>_PORT`` variables, so moved ports are passed on."""
    ports = {s.name: s.port for s in running if s.name in DEFAULT_PORTS}
    if "reception" not in ports:
        return None
    moved = [f"{port_env_var(name)}={port}" for name, port in ports.items() if port != DEFAULT_PORTS[name]]
    python = Path(sys.executable)
    shown = python.relative_to(REPO_ROOT) if python.is_relative_to(REPO_ROOT) else python
    return " ".join([*moved, f"{shown} -m services.simulator --demo"])


@dataclass(frozen=True)
class Links:
    """The URLs the banner prints for one service, each one seen answering (None: it did not)."""

    #: what to open in a browser: an API's ``/docs``, else the service's own page (the console)
    page: str | None
    health: str | None
    metrics: str | None


async def probe_links(running: list[Service]) -> dict[str, Links]:
    """Ask each service which of its usual URLs answer, so the banner prints only those."""

    async def first(http: httpx.AsyncClient, base: str, paths: tuple[str, ...]) -> str | None:
        for path in paths:
            try:
                response = await http.get(base + path)
            except httpx.HTTPError:
                continue
            if response.status_code < 400:  # a redirect (a page's sign-in) answers too
                return base + path
        return None

    async def links(http: httpx.AsyncClient, s: Service) -> Links:
        page, health, metrics = await asyncio.gather(
            first(http, s.base_url, PAGES),
            first(http, s.base_url, ("/health",)),
            first(http, s.base_url, ("/metrics",)),
        )
        return Links(page, health, metrics)

    async with httpx.AsyncClient(timeout=5.0, follow_redirects=False) as http:
        found = await asyncio.gather(*(links(http, s) for s in running))
    return {s.name: link for s, link in zip(running, found, strict=True)}


def print_table(
    running: list[Service],
    infra: Infra,
    env: dict[str, str] | None = None,
    links: dict[str, Links] | None = None,
) -> None:
    """The start-up banner: every URL in it is built from the ports in use and was seen answering
    (``links``, from :func:`probe_links`)."""
    links = links or {}
    rows = [("service", "open", "health", "metrics")]
    for s in running:
        link = links.get(s.name, Links(None, None, None))
        rows.append((s.name, link.page or "—", link.health or "—", link.metrics or "—"))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    print(flush=True)
    say("BranchCare is up")
    for row in rows:
        print("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    print()
    for label, value in [*infra.describe(), ("logs", f"{infra.log_dir}/<service>.log")]:
        print(f"  {label:<11}{value}")
    env = env if env is not None else child_env(infra, running)
    if env.get(DEV_MODE_ENV) == "1":
        print(f"\n  {DEV_MODE_ENV}=1: services without a key of their own use the PUBLIC development keys.")
    print()
    for line in token_lines(env, running):
        print(line)
    simulate = simulator_line(running)
    if simulate:
        print(f"\n  Simulated branches (in another terminal): {simulate}")
    print("\n  Ctrl-C stops everything.\n", flush=True)


async def stop_services(running: list[Service], force: asyncio.Event) -> None:
    """SIGTERM every child, wait up to the grace period (or a second Ctrl-C), then SIGKILL."""
    alive = [s for s in running if s.running]
    if alive:
        say(f"stopping {', '.join(s.name for s in alive)} ...")
    for s in alive:
        assert s.proc is not None
        s.proc.terminate()
    waits = [asyncio.create_task(s.proc.wait()) for s in alive if s.proc is not None]
    if waits:
        forced = asyncio.create_task(force.wait())
        racers: list[asyncio.Future[Any]] = [asyncio.gather(*waits), forced]
        await asyncio.wait(
            racers,
            timeout=STOP_GRACE_SECONDS,
            return_when=asyncio.FIRST_COMPLETED,
        )
        forced.cancel()
        for s in alive:
            if s.running and s.proc is not None:
                say(f"{s.name} is still running: killing it")
                s.proc.kill()
        await asyncio.gather(*waits)
    pumps = [s.pump for s in running if s.pump is not None]
    if pumps:
        _done, pending = await asyncio.wait(pumps, timeout=2)
        for task in pending:  # a grandchild may still hold the pipe open
            task.cancel()


async def watch(running: list[Service]) -> int:
    """Block until a service exits on its own; report it and return 1."""
    waits = {asyncio.create_task(s.proc.wait()): s for s in running if s.proc is not None}
    done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    for task in done:
        service = waits[task]
        if service.pump is not None:
            await asyncio.wait([service.pump], timeout=2)
        service.report_tail(f"{service.name} exited unexpectedly (code {task.result()})")
    return 1


def child_env(infra: Infra, planned: list[Service]) -> dict[str, str]:
    """What every service process gets: development mode and text logs (unless the environment
    says otherwise), the infrastructure's addresses, every service's port (a console finds the others)
    and reception's URL (feedback's SMS sender resolves phone numbers in reception's vault)."""
    ports = {s.name: s.port for s in planned}
    env = {
        DEV_MODE_ENV: "1",  # public development keys, unless the environment says otherwise
        # readable lines: the runner prefixes every line with the service's name for a person to
        # read (a prefixed JSON line is no JSON line anyway); LOG_FORMAT=json in the environment wins
        "LOG_FORMAT": "text",
        # a topic a service has to re-create (the embedded broker restarted empty) gets the dev
        # stack's partition count, not production's (deploy/kafka/topics.md)
        "KAFKA_TOPIC_PARTITIONS": str(DEFAULT_PARTITIONS),
        # the embedded broker gains nothing from static membership: a restarted member waits for
        # its ghost's session, so keep it short (shared/kafka_link.py has the measurements); it
        # holds fetches, so idle consumers pause until a relay wakes them (shared/fetch_pacing.py)
        **(EMBEDDED_BROKER_SESSION if infra.broker is not None else {}),
        **os.environ,
        "DATABASE_URL": infra.database_url,
        "KAFKA_BOOTSTRAP_SERVERS": infra.bootstrap_servers,
        "PYTHONUNBUFFERED": "1",
        **{port_env_var(name): str(port) for name, port in ports.items()},
    }
    if "reception" in ports and not os.environ.get(RECEPTION_URL_ENV):
        env[RECEPTION_URL_ENV] = f"http://127.0.0.1:{ports['reception']}"
    return env


async def start_and_check(
    chosen: list[str], infra: Infra, running: list[Service], startup_timeout: float
) -> dict[str, str]:
    """Start the chosen services and wait for their health; returns the environment they got."""
    width = max(len(name) for name in chosen)
    planned: list[Service] = []
    for i, name in enumerate(chosen):
        port = service_port(name, {s.port for s in planned})
        planned.append(
            Service(
                name=name,
                port=port,
                colour=_COLOURS[i % len(_COLOURS)],
                label_width=width,
                log_path=infra.log_dir / f"{name}.log",
            )
        )
    busy = [s for s in planned if not port_is_free(s.port, "0.0.0.0")]
    if busy:
        raise StartupError(
            "ports already in use: "
            + ", ".join(f"{s.name} {s.port} (set {port_env_var(s.name)})" for s in busy)
            + " — is another dev runner still up?"
        )
    env = child_env(infra, planned)
    for s in planned:
        say(f"starting {s.name} on port {s.port} ...")
        await s.start(env)
        running.append(s)

    async def healthy(s: Service) -> None:
        try:
            await wait_http_ok(f"{s.base_url}/health", startup_timeout, alive=lambda: s.running)
        except (TimeoutError, RuntimeError) as exc:
            if s.pump is not None:
                await asyncio.wait([s.pump], timeout=1)
            s.report_tail(f"{s.name} failed to start: {exc}")
            raise StartupError(f"{s.name} failed to start") from exc

    checks = [asyncio.create_task(healthy(s)) for s in running]
    try:
        done, _pending = await asyncio.wait(checks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for task in checks:  # the first failure stops the stack: no reports from the others
            task.cancel()
    for task in done:
        error = None if task.cancelled() else task.exception()
        if error is not None:
            raise error
    return env


async def run(args: argparse.Namespace) -> int:
    available = discover_services()
    if args.only:
        chosen = [name.strip() for name in args.only.split(",") if name.strip()]
        unknown = [name for name in chosen if name not in available]
        if unknown:
            say(f"unknown service(s) {', '.join(unknown)}; available: {', '.join(available)}")
            return 2
    else:
        chosen = available

    loop = asyncio.get_running_loop()
    main_task = asyncio.current_task()
    assert main_task is not None
    force = asyncio.Event()
    state = {"stopping": False}

    def on_signal(sig: signal.Signals) -> None:
        if not state["stopping"]:
            state["stopping"] = True
            say(f"{sig.name}: shutting down (again to kill at once) ...")
            main_task.cancel()
        else:
            force.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)

    infra = Infra(state_dir=args.state_dir.resolve())
    running: list[Service] = []
    code = 0
    try:
        await infra.start(embedded_allowed=not args.no_embedded)
        env: dict[str, str] | None = None
        if not chosen:
            say("no services found (packages under services/ with a __main__.py)")
        else:
            env = await start_and_check(chosen, infra, running, args.startup_timeout)
        print_table(running, infra, env, await probe_links(running))
        if running:
            code = await watch(running)
        else:
            await asyncio.Event().wait()  # infrastructure only: wait for Ctrl-C
    except asyncio.CancelledError:
        if not state["stopping"]:
            raise
        main_task.uncancel()
    except StartupError as exc:
        say(f"error: {exc}")
        code = 1
    finally:
        state["stopping"] = True
        await stop_services(running, force)
        infra.stop()
    say("stopped" if code == 0 else f"stopped (exit {code})")
    return code


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m services", description=__doc__.split("\n")[0])
    parser.add_argument("--only", metavar="NAME[,NAME]", help="start only these services")
    parser.add_argument(
        "--no-embedded",
        action="store_true",
        help="never start embedded PostgreSQL/Kafka: require DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=DEFAULT_STATE_DIR,
        metavar="DIR",
        help="embedded PostgreSQL data and logs (default: .devstack in the repository)",
    )
    parser.add_argument(
        "--startup-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long each service may take to answer /health (default 60)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
