"""The base of the pure ASGI middlewares (no ``BaseHTTPMiddleware``: no extra task per request)."""

from __future__ import annotations

from collections.abc import Awaitable

from starlette.types import ASGIApp, Receive, Scope, Send


class HttpMiddleware:
    """A middleware for HTTP requests (:meth:`http`); every other scope (lifespan, websockets)
    passes through to ``app`` untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """The awaitable of :meth:`http` (or of ``app``), not a coroutine of its own awaiting it:
        a frame fewer in the chain every resumption of the request's task passes through (each
        round trip's answer, each body chunk), for every middleware of the stack."""
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        return self.http(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """One HTTP request."""
        raise NotImplementedError
