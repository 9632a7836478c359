"""Console settings from the environment: where it listens and where each service's API is.

The console owns no data: it needs only the base URL of every service it calls and the key that
verifies staff tokens (``shared.auth.AuthConfig``: ``BRANCHCARE_JWT_SECRET``, or the public dev
secret with ``BRANCHCARE_DEV_MODE=1``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.request_guard import DEFAULT_MAX_BODY_BYTES
from shared.topology import CONTEXTS, DEFAULT_PORTS

#: the console's own default port (kept here, not in shared.topology: it is not a bounded context)
CONSOLE_PORT = 8080


def _local(name: str, port: int | None = None) -> str:
    return f"http://127.0.0.1:{port or DEFAULT_PORTS[name]}"


class ConsoleEnvironment(BaseSettings):
    """The variables the console reads; :meth:`ConsoleSettings.from_env` turns them into settings.

    A service's API is ``<NAME>_URL``, else ``http://127.0.0.1:<NAME>_PORT`` (what the dev runner
    uses), else the context's default port: one pair of fields per context."""

    model_config = SettingsConfigDict(extra="ignore", env_ignore_empty=True)

    http_host: str = "0.0.0.0"
    http_port: int | None = None
    console_port: int = CONSOLE_PORT
    console_lobby_poll_seconds: float = 0.5
    console_request_timeout_seconds: float = 5.0
    console_cookie_secure: str = ""
    log_level: str = "INFO"
    max_request_bytes: int = DEFAULT_MAX_BODY_BYTES
    reception_url: str | None = None
    complaint_url: str | None = None
    followup_url: str | None = None
    feedback_url: str | None = None
    hqfeed_url: str | None = None
    hq_url: str | None = None
    reception_port: int | None = None
    complaint_port: int | None = None
    followup_port: int | None = None
    feedback_port: int | None = None
    hqfeed_port: int | None = None
    hq_port: int | None = None

    def service_urls(self) -> dict[str, str]:
        urls: dict[str, str] = {}
        for name in CONTEXTS:
            url: str | None = getattr(self, f"{name}_url", None)
            urls[name] = url.rstrip("/") if url else _local(name, getattr(self, f"{name}_port", None))
        return urls


@dataclass(frozen=True)
class ConsoleSettings:
    http_host: str = "0.0.0.0"
    http_port: int = CONSOLE_PORT
    service_urls: Mapping[str, str] = field(default_factory=lambda: {name: _local(name) for name in CONTEXTS})
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
    def from_env(cls) -> ConsoleSettings:
        env = ConsoleEnvironment()
        return cls(
            http_host=env.http_host,
            http_port=env.http_port or env.console_port,
            service_urls=env.service_urls(),
            lobby_poll_seconds=env.console_lobby_poll_seconds,
            request_timeout_seconds=env.console_request_timeout_seconds,
            cookie_secure=env.console_cookie_secure == "1",
            log_level=env.log_level,
            max_request_bytes=env.max_request_bytes,
        )
