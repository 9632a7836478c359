"""The console's calls to the services: the staff member's own token, and only what they may call.

Every call names the action of ``shared/auth/permissions.py`` it performs; the console checks it
with ``is_allowed`` BEFORE calling (a refused call never leaves the console) and the service checks
it again. The request carries ``Authorization: Bearer <the signed-in token>``: the services take
the actor from that token (its ``sub``), never from anything the browser sent.

Answers come back as :class:`ApiResult`; a service that is down raises :class:`Unavailable`, a
route the service does not have yet (FastAPI's bare 404 "Not Found" / 405) is flagged
``route_missing`` so a page can say "not built yet" instead of failing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client import Counter, Histogram

from services.console.session import Denied, Session

log = logging.getLogger("services.console.backend")

#: labels stay bounded: the service name and an outcome class, never a path, branch or id
BACKEND_CALLS = Counter(
    "branchcare_console_backend_requests_total",
    "Calls from the console to a service API, by outcome (2xx, 4xx, 5xx, unavailable, refused)",
    ["service", "outcome"],
)
BACKEND_SECONDS = Histogram(
    "branchcare_console_backend_request_seconds",
    "Duration of the console's calls to a service API",
    ["service"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


class Unavailable(Exception):
    """The service did not answer (down, starting, or too slow)."""

    def __init__(self, service: str, url: str, reason: str) -> None:
        super().__init__(f"{service} at {url}: {reason}")
        self.service = service
        self.url = url
        self.reason = reason


@dataclass
class ApiResult:
    service: str
    method: str
    path: str
    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)
    content: bytes = b""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def route_missing(self) -> bool:
        """The service has no such route (yet): FastAPI's default 404 body, or 405."""
        if self.status == 405:
            return True
        return (
            self.status == 404 and isinstance(self.body, Mapping) and self.body.get("detail") == "Not Found"
        )

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def detail(self) -> str:
        if isinstance(self.body, Mapping):
            detail = self.body.get("detail")
            if isinstance(detail, str):
                return detail
            if detail is not None:
                return str(detail)
        return str(self.body)[:500] if self.body else ""


class Backend:
    """One pooled HTTP client for all services (keep-alive; the console is their only caller
    from the browser's side)."""

    def __init__(
        self,
        urls: Mapping[str, str],
        *,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.urls = dict(urls)
        self._client = httpx.AsyncClient(
            timeout=timeout,
            transport=transport,
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    def url_of(self, service: str) -> str:
        return self.urls[service]

    async def call(
        self,
        session: Session,
        service: str,
        method: str,
        path: str,
        *,
        action: str,
        branch_id: str | None = None,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        if_match: str | int | None = None,
        accept: str = "application/json",
        idempotency_key: str | None = None,
    ) -> ApiResult:
        """Call ``service`` as the signed-in staff member; :class:`Denied` if they may not. A create
        carries the ``Idempotency-Key`` of the form it came from (a double click is one create)."""
        try:
            session.require(action, branch_id)
        except Denied:
            BACKEND_CALLS.labels(service, "refused").inc()
            raise
        headers = {"Authorization": f"Bearer {session.token}", "Accept": accept}
        if if_match not in (None, ""):
            headers["If-Match"] = f'"{str(if_match).strip(chr(34))}"'
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        base = self.urls[service]
        clean_params = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        try:
            with BACKEND_SECONDS.labels(service).time():
                response = await self._client.request(
                    method, base + path, json=json, params=clean_params, headers=headers
                )
        except httpx.TimeoutException:
            BACKEND_CALLS.labels(service, "unavailable").inc()
            raise Unavailable(service, base, "timed out") from None
        except httpx.TransportError as exc:
            BACKEND_CALLS.labels(service, "unavailable").inc()
            raise Unavailable(service, base, type(exc).__name__) from None
        BACKEND_CALLS.labels(service, f"{response.status_code // 100}xx").inc()
        body: Any
        if response.headers.get("content-type", "").startswith("application/json"):
            try:
                body = response.json()
            except ValueError:
                body = response.text
        else:
            body = response.text
        if response.status_code >= 500:
            log.warning("%s %s %s -> %s", service, method, path, response.status_code)
        return ApiResult(
            service=service,
            method=method,
            path=path,
            status=response.status_code,
            body=body,
            headers={k.lower(): v for k, v in response.headers.items()},
            content=response.content,
        )

    async def get(self, session: Session, service: str, path: str, **kwargs: Any) -> ApiResult:
        return await self.call(session, service, "GET", path, **kwargs)

    async def post(self, session: Session, service: str, path: str, **kwargs: Any) -> ApiResult:
        return await self.call(session, service, "POST", path, **kwargs)


__all__ = ["ApiResult", "Backend", "Denied", "Unavailable"]
