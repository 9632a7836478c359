"""Starting the chosen services and waiting until each answers ``/health``."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from services.devrunner.base import StartupError, say
from services.devrunner.child import Service
from services.devrunner.discovery import service_port
from services.devrunner.environment import child_env
from services.devrunner.infra import Infra
from shared.devstack import port_is_free, wait_http_ok
from shared.topology import port_env_var

_COLOURS = ("36", "33", "35", "32", "34", "31")


async def start_and_check(
    chosen: list[str],
    infra: Infra,
    running: list[Service],
    startup_timeout: float,
    *,
    ports: Mapping[str, str],
    environ: Mapping[str, str],
) -> dict[str, str]:
    """Start the chosen services and wait for their health; returns the environment they got
    (``environ`` and the runner's own values, :func:`child_env`). ``ports``: ``<NAME>_PORT``s set."""
    width = max(len(name) for name in chosen)
    planned: list[Service] = []
    for i, name in enumerate(chosen):
        port = service_port(name, {s.port for s in planned}, ports)
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
    env = child_env(infra, planned, environ)
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
