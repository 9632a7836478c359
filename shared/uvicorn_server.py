"""uvicorn as every BranchCare process runs it: the services (``shared.runner``) and the console."""

from __future__ import annotations

from typing import Protocol

import uvicorn
from starlette.types import ASGIApp


class HttpSettings(Protocol):
    """What the server needs of a process's settings (``ServiceSettings``, ``ConsoleSettings``)."""

    @property
    def http_host(self) -> str: ...

    @property
    def http_port(self) -> int: ...

    @property
    def log_level(self) -> str: ...


def uvicorn_server(app: ASGIApp, settings: HttpSettings, *, graceful_shutdown: int) -> uvicorn.Server:
    """Logs go through the root handler (``shared.logs``: JSON or text lines, PII scrubbed), no
    access log; open requests get ``graceful_shutdown`` seconds when the server stops."""
    return uvicorn.Server(
        uvicorn.Config(
            app,
            host=settings.http_host,
            port=settings.http_port,
            log_level=settings.log_level.lower(),
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=graceful_shutdown,
        )
    )
