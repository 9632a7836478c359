"""Run services for tests the way they run for real: as processes, or in-process with uvicorn.

``ServiceProcess`` starts ``python -m services.<name>`` on a free port (its log goes to a file,
whose tail is shown when it fails to start or a test fails while it runs). ``serve_app`` serves a
FastAPI app in this event loop, for tests that inject a ``FixedClock``. ``wait_until`` polls a
condition with a deadline: the way to wait for Kafka delivery without sleeping blindly.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self, TypeVar, overload

import uvicorn
from fastapi import FastAPI

from shared.devstack import die_with_parent, free_port, wait_http_ok

REPO_ROOT = Path(__file__).resolve().parents[2]

T = TypeVar("T")


class ServiceProcess:
    """``python -m services.<name>`` as a subprocess with DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS and
    HTTP_PORT set (plus ``env``). Use ``async with`` or ``start()`` / ``terminate()``."""

    def __init__(
        self,
        name: str,
        *,
        database_url: str,
        kafka_bootstrap_servers: str,
        env: Mapping[str, str] | None = None,
        port: int | None = None,
        log_dir: Path | None = None,
        module: str | None = None,
    ) -> None:
        self.name = name
        self.module = module or f"services.{name}"
        self.port = port or free_port()
        self.env = {
            "DATABASE_URL": database_url,
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap_servers,
            "HTTP_HOST": "127.0.0.1",
            "HTTP_PORT": str(self.port),
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            # Tansu holds every consumer-group join for half the session timeout (5 s by default)
            "KAFKA_SESSION_TIMEOUT_MS": "2000",
            "KAFKA_HEARTBEAT_INTERVAL_MS": "500",
            # Tansu holds every fetch for its whole max wait (shared/fetch_pacing.py)
            "KAFKA_FETCH_ANSWERS_EARLY": "false",
            **(env or {}),
        }
        log_dir = log_dir or Path(tempfile.mkdtemp(prefix=f"bc-{name}-"))
        self.log_path = log_dir / f"{name}-{self.port}.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode if self._proc is not None else None

    async def start(self, timeout: float = 30.0) -> Self:
        """Spawn the process (again, after it stopped) and wait until ``/health`` answers 200."""
        if self.running:
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        self._spawn()
        try:
            await wait_http_ok(f"{self.url}/health", timeout, interval=0.05, alive=lambda: self.running)
        except (TimeoutError, RuntimeError) as exc:
            self.kill()
            raise RuntimeError(
                f"{self.name} did not start: {exc}\n--- {self.log_path} ---\n{self.log_tail()}"
            ) from None
        return self

    def _spawn(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # closed when the process ends
        self._proc = subprocess.Popen(
            [sys.executable, "-m", self.module],
            cwd=REPO_ROOT,
            env={**os.environ, **self.env},
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,  # no orphan if the test run itself dies
        )

    async def restart(self, timeout: float = 30.0) -> Self:
        """SIGTERM (graceful), then start again on the same port with the same settings."""
        await self.terminate()
        return await self.start(timeout)

    def send_signal(self, sig: signal.Signals) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(sig)

    async def wait(self, timeout: float) -> int | None:
        """Wait for the process to exit; its return code, or None if it is still running."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._proc is not None and self._proc.poll() is None:
            if loop.time() > deadline:
                return None
            await asyncio.sleep(0.02)
        self._close_log()
        return self.returncode

    async def terminate(self, timeout: float = 25.0) -> int | None:
        """SIGTERM and wait for a graceful exit; SIGKILL if it takes longer than ``timeout``.

        Returns the exit code: uvicorn re-raises the SIGTERM once its graceful shutdown is done,
        so a clean exit is ``-signal.SIGTERM`` (or 0).
        """
        if self._proc is None:
            return None
        self.send_signal(signal.SIGTERM)
        code = await self.wait(timeout)
        if code is None:
            self.kill()
            raise RuntimeError(
                f"{self.name} ignored SIGTERM for {timeout:.0f} s\n--- {self.log_path} ---\n{self.log_tail()}"
            )
        return code

    def kill(self) -> None:
        """SIGKILL, no grace."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._close_log()

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            print(f"--- last lines of {self.name} ({self.log_path}) ---\n{self.log_tail()}")
        try:
            await self.terminate(timeout=15.0)
        finally:
            self.kill()

    def __repr__(self) -> str:
        return f"ServiceProcess({self.name}, {self.url}, pid={self.pid}, running={self.running})"


@asynccontextmanager
async def running_services(*procs: ServiceProcess, timeout: float = 30.0) -> AsyncIterator[None]:
    """Start several services in parallel (start-up is mostly imports); terminate them all after."""
    try:
        await asyncio.gather(*(p.start(timeout) for p in procs))
    except BaseException:
        for p in procs:
            print(f"--- last lines of {p.name} ({p.log_path}) ---\n{p.log_tail()}")
            p.kill()
        raise
    failed = False
    try:
        yield
    except BaseException:
        failed = True
        raise
    finally:
        if failed:
            for p in procs:
                print(f"--- last lines of {p.name} ({p.log_path}) ---\n{p.log_tail()}")
        results = await asyncio.gather(*(p.terminate(15.0) for p in procs), return_exceptions=True)
        for p in procs:
            p.kill()
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors and not failed:
            raise errors[0]


@asynccontextmanager
async def serve_app(app: FastAPI, *, port: int | None = None, timeout: float = 30.0) -> AsyncIterator[str]:
    """Serve ``app`` (lifespan included) with uvicorn in this event loop; yields its base URL.

    The listening socket is bound here, before the server starts, and handed to it: a port picked
    free and bound later could be taken meanwhile by another test worker ("address already in
    use", seen in whole runs on a loaded machine)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port or 0))
    port = listener.getsockname()[1]
    try:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, lifespan="on", log_level="warning", access_log=False
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve(sockets=[listener]), name=f"uvicorn-{port}")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not server.started:
            if task.done():
                task.result()  # re-raise a startup crash, if it raised
                raise RuntimeError("the app did not start (lifespan startup failed, see the log above)")
            if loop.time() > deadline:
                server.should_exit = True
                await asyncio.gather(task, return_exceptions=True)
                raise TimeoutError(f"the app did not start within {timeout:.0f} s")
            await asyncio.sleep(0.02)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout=timeout)
            except TimeoutError:
                server.force_exit = True
                await asyncio.gather(task, return_exceptions=True)
    finally:
        listener.close()  # uvicorn closed its server; this is the socket handed to it


@overload
async def wait_until(
    predicate: Callable[[], Awaitable[T]],
    timeout: float = ...,
    interval: float = ...,
    *,
    message: str | None = ...,
) -> T: ...


@overload
async def wait_until(
    predicate: Callable[[], T], timeout: float = ..., interval: float = ..., *, message: str | None = ...
) -> T: ...


async def wait_until(
    predicate: Callable[[], Any],
    timeout: float = 10.0,
    interval: float = 0.05,
    *,
    message: str | None = None,
) -> Any:
    """Poll ``predicate`` (sync or async) until it returns something truthy; return that value."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if loop.time() > deadline:
            raise TimeoutError(message or f"condition not met within {timeout:.1f} s (last value: {value!r})")
        await asyncio.sleep(interval)
