"""Structured logs: JSON lines (or readable text) carrying service, correlation, trace and stream.

Every line of a service process goes through one root handler:

- ``LOG_FORMAT=json`` — one JSON object per line (python-json-logger) with ``time``, ``service``,
  ``level``, ``logger``, ``message``, ``correlation_id``, ``trace_id``, ``stream_id`` (empty strings
  when unknown) and ``exc_info`` on errors; ``LOG_FORMAT=text`` — one readable line. Unset: JSON
  when stderr is not a terminal (a container, a log shipper), text on a terminal. The dev runner
  (``make run``) pipes service output to your terminal and asks for text there (see
  ``services/devrunner/``).
- The context fields come from context variables, so every line written while a request or a
  command runs carries its ids without anyone passing them: a service's audit middleware
  (``shared.audit``) binds the HTTP request's correlation id (the one it assigns or the client
  sent), :class:`LogContextMiddleware` does it for an app without one; :func:`bind` binds others
  (the command handler binds the stream id).
- ``trace_id`` is empty until tracing is wired: the tracing setup calls :func:`set_trace_id_source`
  with a function that returns the current span's trace id (hex), and every line gains it.
- PII scrubbing (``shared.pii.install_log_scrubbing``) rewrites records at creation, before any
  formatter sees them; it stays installed in both formats.
- Library chatter (aiokafka's and FastStream's group coordination and partition assignment,
  httpx's per-request lines) is held at WARNING (``LOG_LIBRARY_LEVEL`` to change it).
"""

from __future__ import annotations

import contextvars
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal, TextIO

from pythonjsonlogger.json import JsonFormatter
from starlette.types import Receive, Scope, Send

from shared.asgi import HttpMiddleware
from shared.pii import install_log_scrubbing, scrub_text
from shared.settings import LogSettings

LogFormat = Literal["json", "text"]

correlation_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("correlation_id", default="")
stream_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("stream_id", default="")

#: loggers that talk too much at INFO for an operator (group joins, assignments, heartbeats)
CHATTY_LIBRARIES = ("aiokafka", "faststream", "httpx", "httpcore")

_CORRELATION_HEADER = b"x-correlation-id"
_trace_id_source: Callable[[], str] = lambda: ""  # noqa: E731 - replaced by the tracing setup


def set_trace_id_source(source: Callable[[], str]) -> None:
    """Hook for tracing: ``source()`` returns the current trace id (32 hex digits) or ``""``."""
    global _trace_id_source
    _trace_id_source = source


def current_trace_id() -> str:
    try:
        return _trace_id_source()
    except Exception:  # a broken hook must never lose a log line
        return ""


@contextmanager
def bind(*, correlation_id: object = None, stream_id: object = None) -> Iterator[None]:
    """Log lines written inside carry these ids (``None`` leaves a field as it is)."""
    tokens: list[tuple[contextvars.ContextVar[str], contextvars.Token[str]]] = []
    if correlation_id is not None:
        tokens.append((correlation_id_var, correlation_id_var.set(str(correlation_id))))
    if stream_id is not None:
        tokens.append((stream_id_var, stream_id_var.set(str(stream_id))))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class ContextFilter(logging.Filter):
    """Adds ``service``, ``correlation_id``, ``trace_id`` and ``stream_id`` to every record."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        if not getattr(record, "correlation_id", ""):
            record.correlation_id = correlation_id_var.get()
        if not getattr(record, "stream_id", ""):
            record.stream_id = stream_id_var.get()
        if not getattr(record, "trace_id", ""):
            record.trace_id = current_trace_id()
        return True


JSON_FIELDS = ("service", "level", "logger", "message", "correlation_id", "trace_id", "stream_id")


class _ScrubbingJsonFormatter(JsonFormatter):
    """python-json-logger formats tracebacks itself (not from ``record.exc_text``): scrub them too."""

    def formatException(self, ei: Any) -> str | list[str]:  # type: ignore[override]
        return _scrubbed(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str | list[str]:  # type: ignore[override]
        return _scrubbed(super().formatStack(stack_info))


def _scrubbed(text: str | list[str]) -> str | list[str]:
    return scrub_text(text) if isinstance(text, str) else [scrub_text(t) for t in text]


def json_formatter() -> logging.Formatter:
    return _ScrubbingJsonFormatter(
        "{asctime}{service}{levelname}{name}{message}{correlation_id}{trace_id}{stream_id}",
        style="{",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        json_ensure_ascii=False,
    )


def text_formatter() -> logging.Formatter:
    return _TextFormatter(
        "%(asctime)s %(service)s %(levelname)s %(name)s: %(message)s%(context)s",
    )


class _TextFormatter(logging.Formatter):
    """The readable line, with the ids in brackets when there are any."""

    def format(self, record: logging.LogRecord) -> str:
        ids = [
            f"{key}={value}"
            for key in ("correlation_id", "stream_id", "trace_id")
            if (value := getattr(record, key, ""))
        ]
        record.context = f" [{' '.join(ids)}]" if ids else ""
        return super().format(record)


def choose_format(requested: str | None, stream: TextIO | None = None) -> LogFormat:
    """``json``/``text`` as asked (``LOG_FORMAT``), else JSON unless ``stream`` is a terminal."""
    value = (requested or "").strip().lower()
    if value in ("json", "text"):
        return value  # type: ignore[return-value]
    if value:
        raise ValueError(f"LOG_FORMAT must be json or text, not {requested!r}")
    stream = stream or sys.stderr
    return "text" if stream.isatty() else "json"


def configure_logging(
    service: str,
    level: str = "INFO",
    log_format: str | None = None,
    *,
    stream: TextIO | None = None,
    library_level: str | None = None,
) -> LogFormat:
    """One root handler for the process (replacing any), in the chosen format; returns it.

    ``log_format``/``library_level`` default to ``LOG_FORMAT``/``LOG_LIBRARY_LEVEL``."""
    stream = stream or sys.stderr
    chosen = choose_format(log_format if log_format is not None else LogSettings().log_format, stream)
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter(service))
    handler.setFormatter(json_formatter() if chosen == "json" else text_formatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # FastStream gives its own logger a coloured stdout handler that does not propagate: its lines
    # must go through ours (the broker's logger is passed in by shared.runner)
    faststream = logging.getLogger("faststream")
    for old in list(faststream.handlers):
        faststream.removeHandler(old)
    faststream.propagate = True
    quiet = (library_level or LogSettings().log_library_level or "WARNING").upper()
    for name in CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(quiet)
    install_log_scrubbing()  # phone and ID numbers never reach a log line, whoever logs them
    return chosen


class LogContextMiddleware(HttpMiddleware):
    """Binds the request's correlation id (header ``X-Correlation-Id``) for the log lines of the
    request, for an app without the audit middleware (``shared.runner``'s apps have it: it binds
    the id itself, and assigns one when the client sent none)."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        correlation = next(
            (
                bytes(value).decode("latin-1")[:64]
                for key, value in scope.get("headers") or ()
                if key.lower() == _CORRELATION_HEADER
            ),
            None,
        )
        with bind(correlation_id=correlation):
            await self.app(scope, receive, send)
