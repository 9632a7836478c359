"""uvicorn as every BranchCare process runs it: the services (``shared.runner``) and the console."""

from __future__ import annotations

import uvicorn
from starlette.types import ASGIApp


def uvicorn_server(
    app: ASGIApp, *, host: str, port: int, log_level: str, graceful_shutdown: int
) -> uvicorn.Server:
    """Logs go through the root handler (``shared.logs``: JSON or text lines, PII scrubbed), no
    access log; open requests get ``graceful_shutdown`` seconds when the server stops."""
    return uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level=log_level.lower(),
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=graceful_shutdown,
        )
    )
