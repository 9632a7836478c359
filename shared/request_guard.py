"""HTTP hygiene in front of every route: a bounded body, and JSON where JSON is expected.

:class:`RequestGuard` is a pure ASGI middleware (it sees the raw byte stream, before anything is
parsed):

- **413** when the body is larger than the limit (default :data:`DEFAULT_MAX_BODY_BYTES`, 64 KiB;
  ``MAX_REQUEST_BYTES`` in a service's environment): decided from ``Content-Length`` alone, and
  for a body without a length (chunked) by counting the bytes as they arrive, refused at the
  first chunk over the limit. Nothing is buffered past the limit, nothing is parsed.
- **415** "send application/json" when a request carries a body whose media type is not JSON
  (``application/json`` or ``application/*+json``), or carries no ``Content-Type`` at all:
  FastAPI would otherwise try the body as JSON anyway, or answer a form with 422 "Input should
  be a valid dictionary". The console, whose own pages post forms, passes the media types it
  takes (``application/x-www-form-urlencoded``).

Both answers are JSON with a ``detail`` reason, like every other 4xx; the submitted bytes and
media type are never echoed. A body-less request (no ``Content-Length``, or ``0``, and no
``Transfer-Encoding``) passes whatever its ``Content-Type`` says: commands such as
``POST /visits/{id}/queue`` take no body.

The accepted body (at most the limit) is read once and handed on in one piece, so the route's
parser never sees more than the limit.

A refused body is read and thrown away (never stored, never parsed) up to :data:`DRAIN_BYTES`
before the answer goes out: an HTTP/1.1 client sends its whole body before it reads the answer,
and a server that closes on unread bytes resets the connection, so the client would see a reset
instead of the 413/415. Past that bound the answer goes out at once and the connection closes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.asgi import HttpMiddleware

__all__ = ["DEFAULT_MAX_BODY_BYTES", "JSON_TYPES", "RequestGuard", "install_request_guard"]

DEFAULT_MAX_BODY_BYTES = 64 * 1024
JSON_TYPES = frozenset({"application/json"})
FORM_TYPES = frozenset({"application/x-www-form-urlencoded"})
#: how much of a refused body is read and discarded so the client gets to read the refusal
DRAIN_BYTES = 4 * 1024 * 1024


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return {bytes(k).lower(): bytes(v) for k, v in scope.get("headers") or ()}


def media_type(value: bytes | None) -> str | None:
    """``application/json; charset=utf-8`` → ``application/json``; None when absent or garbled."""
    if not value:
        return None
    try:
        text = value.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
        return None
    kind = text.split(";", 1)[0].strip().lower()
    return kind or None


def is_json(kind: str | None) -> bool:
    if kind is None:
        return False
    if kind in JSON_TYPES:
        return True
    top, _, sub = kind.partition("/")
    return top == "application" and sub.endswith("+json")


class RequestGuard(HttpMiddleware):
    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        accept: Iterable[str] = (),
    ) -> None:
        if max_body_bytes < 1:
            raise ValueError("max_body_bytes must be positive")
        super().__init__(app)
        self.max_body_bytes = max_body_bytes
        self.accept = frozenset(a.lower() for a in accept)

    def _accepted(self, kind: str | None) -> bool:
        return is_json(kind) or (kind is not None and kind in self.accept)

    def _expected(self) -> str:
        return " or ".join(["application/json", *sorted(self.accept)])

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = _headers(scope)
        length_header = headers.get(b"content-length")
        chunked = b"chunked" in headers.get(b"transfer-encoding", b"").lower()
        declared: int | None = None
        if length_header is not None:
            try:
                declared = int(length_header)
            except ValueError:
                await self._refuse(send, 400, "Content-Length must be a number of bytes", False)
                return
        has_body = chunked or (declared is not None and declared > 0)
        if not has_body:
            await self.app(scope, receive, send)
            return
        if declared is not None and declared > self.max_body_bytes:
            await self._too_large(send, await _drain(receive, declared))
            return
        kind = media_type(headers.get(b"content-type"))
        if not self._accepted(kind):
            what = "no Content-Type" if kind is None else "a body that is not JSON"
            drained = await _drain(receive, declared)
            await self._refuse(send, 415, f"send {self._expected()} (the request had {what})", drained)
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = bool(message.get("more_body", False))
            if len(body) > self.max_body_bytes:
                await self._too_large(send, not more or await _drain(receive, None))
                return
        await self.app(scope, _replay(bytes(body), receive), send)

    async def _too_large(self, send: Send, drained: bool) -> None:
        limit = self.max_body_bytes
        size = f"{limit // 1024} KiB" if limit % 1024 == 0 else f"{limit} bytes"
        await self._refuse(send, 413, f"request body larger than {size} ({limit} bytes): send less", drained)

    @staticmethod
    async def _refuse(send: Send, status: int, detail: str, drained: bool) -> None:
        payload = json.dumps({"detail": detail}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
        if not drained:  # unread bytes left: the connection cannot carry another request
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


async def _drain(receive: Receive, declared: int | None) -> bool:
    """Read and discard the request body; False when it is (or would be) over
    :data:`DRAIN_BYTES`: then the rest is left unread and the connection must close."""
    if declared is not None and declared > DRAIN_BYTES:
        return False
    seen = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return False
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return True
        if seen > DRAIN_BYTES:
            return False


def _replay(body: bytes, receive: Receive) -> Receive:
    """The already-read body in one message, then whatever the server says next (disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def install_request_guard(
    app: FastAPI, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, accept: Iterable[str] = ()
) -> None:
    """Add :class:`RequestGuard` to ``app``. Add it before the auth and audit middlewares (the
    last added is the outermost), so the audit records a 413/415 like any other refusal."""
    app.add_middleware(RequestGuard, max_body_bytes=max_body_bytes, accept=tuple(accept))
