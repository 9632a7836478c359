"""Console settings from the environment: where it listens and where each service's API is.

The console owns no data: it needs only the base URL of every service it calls and the key that
verifies staff tokens (``shared.auth.AuthConfig``: ``BRANCHCARE_JWT_SECRET``, or the public dev
secret with ``BRANCHCARE_DEV_MODE=1``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from shared.request_guard import DEFAULT_MAX_BODY_BYTES
from shared.topology import CONTEXTS, DEFAULT_PORTS

#: the console's own default port (kept here, not in shared.topology: it is not a bounded context)
CONSOLE_PORT = 8080


def _port_var(name: str) -> str:
    return re.sub(r"[^A-Z0-9]", "_", name.upper()) + "_PORT"


def _url_var(name: str) -> str:
    return re.sub(r"[^A-Z0-9]", "_", name.upper()) + "_URL"


def service_url(name: str, env: Mapping[str, str]) -> str:
    """``<NAME>_URL``, else ``http://127.0.0.1:<NAME>_PORT`` (what the dev runner uses), else the
    context's default port."""
    url = env.get(_url_var(name))
    if url:
        return url.rstrip("/")
    port = env.get(_port_var(name)) or str(DEFAULT_PORTS[name])
    return f"http://127.0.0.1:{port}"


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None


@dataclass(frozen=True)
class ConsoleSettings:
    http_host: str = "0.0.0.0"
    http_port: int = CONSOLE_PORT
    service_urls: Mapping[str, str] = field(
        default_factory=lambda: {name: service_url(name, {}) for name in CONTEXTS}
    )
    #: how often a lobby board stream asks reception for the board (seconds)
    lobby_poll_seconds: float = 0.5
    #: per request to a service
    request_timeout_seconds: float = 5.0
    #: mark the session cookie Secure (set when the console is served over HTTPS)
    cookie_secure: bool = False
    log_level: str = "INFO"
    #: form bodies above this size are refused with 413 before parsing (``MAX_REQUEST_BYTES``)
    max_request_bytes: int = DEFAULT_MAX_BODY_BYTES

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ConsoleSettings:
        env = os.environ if environ is None else environ
        raw_port = env.get("HTTP_PORT") or env.get("CONSOLE_PORT") or str(CONSOLE_PORT)
        try:
            port = int(raw_port)
        except ValueError:
            raise ValueError(f"HTTP_PORT={raw_port!r} is not a port number") from None
        return cls(
            http_host=env.get("HTTP_HOST", "0.0.0.0"),
            http_port=port,
            service_urls={name: service_url(name, env) for name in CONTEXTS},
            lobby_poll_seconds=_float(env, "CONSOLE_LOBBY_POLL_SECONDS", 0.5),
            request_timeout_seconds=_float(env, "CONSOLE_REQUEST_TIMEOUT_SECONDS", 5.0),
            cookie_secure=env.get("CONSOLE_COOKIE_SECURE", "") == "1",
            log_level=env.get("LOG_LEVEL", "INFO"),
            max_request_bytes=int(_float(env, "MAX_REQUEST_BYTES", DEFAULT_MAX_BODY_BYTES)),
        )
