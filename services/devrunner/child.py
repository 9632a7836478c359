"""One service as a child process of the dev runner: started, its output pumped, stopped."""

from __future__ import annotations

import asyncio
import sys
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from services.devrunner.base import REPO_ROOT, say
from shared.devstack import die_with_parent

STOP_GRACE_SECONDS = 15.0
TAIL_LINES = 30


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
