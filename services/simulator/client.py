"""HTTP to the real services: who acts, what counts as an error, what as a conflict.

Every request counts towards the live progress line. What a response means:

- 2xx, and the statuses a step expects (e.g. 404 "nobody is waiting on line deposits" from
  call-next, 409 "the visit has ended" when the customer walked out as they were called): the
  step decides. A refusal a member of staff could meet in a race is a **conflict**
  (:meth:`Api.conflict`), counted apart from errors; a refusal the simulator did not foresee is an
  error (:meth:`Api.refused`).
- Everything else is an **error**: a refused connection, a 5xx, an unexpected 4xx (401/403 =
  the simulator signs with another key than the services; 422 = the simulator sent a bad body).
  Each distinct one (service, route, status) is reported once with the service's response, so the
  progress line's ``errors`` are real failures and you can see which.

A service that does not answer ``/health`` is skipped with one warning (and probed again every
30 s: services land while the simulator runs); a route the service does not have (404 "Not Found"
or 405 from the framework, not from the domain) is skipped with one warning.

Creates (``create=True``) carry an ``Idempotency-Key``: a retried create returns the first result
instead of making a second visit or case.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

import httpx

from services.simulator.tokens import Tokens
from shared.settings import port_environment
from shared.topology import DEFAULT_PORTS, port_env_var

SERVICES = ("reception", "complaint", "followup", "feedback", "hq")
#: a service that did not answer is asked again after this many (real) seconds
REPROBE_SECONDS = 2.0
#: no keep-alive: a request sent on a kept-alive connection just as the server closes it (uvicorn
#: closes idle ones after a while; on a loaded machine this process may see the response seconds late)
#: fails with a ReadError that says nothing about the service; a new connection per request on
#: the same machine costs well under a millisecond
KEEPALIVE_CONNECTIONS = 0
#: how much of a response body an error report shows
BODY_CHARS = 300


def default_base_urls(host: str = "127.0.0.1", environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every service on ``host`` at its port: ``<NAME>_PORT`` from the environment (the dev runner's
    variables for moved ports), else the default port."""
    env = port_environment() if environ is None else environ
    urls = {}
    for name in SERVICES:
        raw = env.get(port_env_var(name), "").strip()
        port = int(raw) if raw.isdigit() else DEFAULT_PORTS[name]
        urls[name] = f"http://{host}:{port}"
    return urls


def parse_base_urls(
    text: str | None, host: str = "127.0.0.1", environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """``reception=http://h:8001,complaint=...`` (any subset; the rest default to ``host``)."""
    urls = default_base_urls(host, environ)
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, url = part.partition("=")
        if not sep or name.strip() not in SERVICES:
            raise ValueError(
                f"--base-urls: expected name=url with name one of {', '.join(SERVICES)}: {part!r}"
            )
        urls[name.strip()] = url.strip().rstrip("/")
    return urls


@dataclass
class Failure:
    """One distinct error (service, route, status): how often, and the first response."""

    key: str
    count: int
    message: str


@dataclass
class Stats:
    requests: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    #: races a member of staff meets too (another counter took the customer): not errors
    conflicts: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    #: what the simulation did (visits, complaints, answers, ...), for the live line
    done: Counter[str] = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)
    #: every distinct error, in the order they first happened
    failures: dict[str, Failure] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    @property
    def total(self) -> int:
        return sum(self.requests.values())

    def fail(self, service: str, key: str, message: str) -> None:
        self.errors[service] += 1
        known = self.failures.get(key)
        if known is None:
            self.failures[key] = Failure(key, 1, message)
        else:
            known.count += 1


class Api:
    def __init__(
        self,
        base_urls: Mapping[str, str],
        *,
        stats: Stats,
        timeout: float = 15.0,
        concurrency: int = 32,
        token: str | None = None,
        tokens: Tokens | None = None,
    ) -> None:
        self.base_urls = dict(base_urls)
        self.stats = stats
        #: a fixed token for everything (``token``), else per staff member (see tokens.py)
        self.tokens = Tokens(fixed=token) if token is not None else tokens or Tokens.from_env()
        limits = httpx.Limits(
            max_connections=concurrency,
            max_keepalive_connections=KEEPALIVE_CONNECTIONS,
        )
        self.http = httpx.AsyncClient(timeout=timeout, limits=limits)
        self.available: dict[str, bool] = {}
        self._probed_at: dict[str, float] = {}
        self.missing_routes: set[str] = set()
        self._warned: set[str] = set()
        self._gate = asyncio.Semaphore(concurrency)

    async def close(self) -> None:
        await self.http.aclose()

    def warn(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.stats.warnings.append(message)

    async def probe(self, service: str) -> bool:
        url = self.base_urls.get(service)
        ok = False
        if url:
            try:
                ok = (await self.http.get(f"{url}/health", timeout=3)).status_code == 200
            except httpx.HTTPError:
                ok = False
        self.available[service] = ok
        self._probed_at[service] = time.monotonic()
        if not ok:
            self.warn(
                f"down:{service}", f"{service} is not reachable at {url}: its part of the traffic is skipped"
            )
        return ok

    async def probe_all(self) -> dict[str, bool]:
        await asyncio.gather(*(self.probe(s) for s in self.base_urls))
        return dict(self.available)

    async def up(self, service: str) -> bool:
        if self.available.get(service):
            return True
        if time.monotonic() - self._probed_at.get(service, 0.0) > REPROBE_SECONDS:
            return await self.probe(service)
        return False

    def acting(self, staff: str, branch: str | None) -> Acting:
        """Requests as ``staff`` working in ``branch`` (None: HQ)."""
        return Acting(self, staff, branch)

    def headers(self, staff: str, branch: str | None) -> dict[str, str]:
        """``staff``'s bearer token for ``branch`` (None: HQ); the service takes the actor from it."""
        return self.tokens.headers(staff, branch)

    async def create(
        self, service: str, template: str, *, staff: str, branch: str, json: Any
    ) -> httpx.Response | None:
        """``POST`` a new resource under ``/branches/{b}/…`` of ``branch`` as ``staff``, with an
        ``Idempotency-Key`` (a retried create answers the first result)."""
        return await self.call(service, "POST", template, staff=staff, json=json, create=True, b=branch)

    async def call(
        self,
        service: str,
        method: str,
        template: str,
        *,
        staff: str,
        branch: str | None = None,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        expected: tuple[int, ...] = (),
        create: bool = False,
        **path: Any,
    ) -> httpx.Response | None:
        """One request as ``staff`` of ``branch`` (default: the ``b`` path value; None on HQ's
        routes); None when the service or route is missing or the connection failed. A status in
        ``expected`` is the caller's to judge (:meth:`conflict` or :meth:`refused`); any other
        4xx/5xx is an error. ``create``: send an ``Idempotency-Key``."""
        route = f"{service} {method} {template}"
        if route in self.missing_routes or not await self.up(service):
            return None
        url = self.base_urls[service] + template.format(**path)
        branch = branch if branch is not None else path.get("b")
        if branch is None and service != "hq":
            raise ValueError(f"{route}: a branch request needs the branch its staff member works in")
        headers = self.headers(staff, branch)
        if create:
            headers["Idempotency-Key"] = str(uuid4())
        async with self._gate:
            try:
                response = await self.http.request(method, url, json=json, params=params, headers=headers)
            except httpx.HTTPError as exc:
                self.stats.requests[service] += 1
                self.available[service] = False
                self._probed_at[service] = time.monotonic()
                self.stats.fail(
                    service,
                    f"{route} {type(exc).__name__}",
                    f"{route}: {_why(exc)} at {url}",
                )
                self.warn(f"conn:{service}", f"{service}: {type(exc).__name__} at {url}; retrying later")
                return None
        self.stats.requests[service] += 1
        self.stats.statuses[response.status_code] += 1
        if response.status_code in (404, 405) and _framework_miss(response):
            self.missing_routes.add(route)
            self.stats.fail(service, f"{route} missing", f"{route} → {describe(response)}")
            self.warn(route, f"{service} has no route {method} {template} yet: that step is skipped")
            return None
        if response.status_code >= 400 and response.status_code not in expected:
            self.refused(service, method, template, response)
            if response.status_code in (401, 403):
                self.warn(
                    f"auth:{service}",
                    f"{service} refused the simulator ({response.status_code}): "
                    "its key is not the one the simulator signs with: set BRANCHCARE_JWT_SECRET to "
                    "the services' secret, or BC_TOKEN to a token naming the simulated branches",
                )
        return response

    def refused(self, service: str, method: str, template: str, response: httpx.Response) -> None:
        """An error: the service refused a step the simulator believed allowed (reported once per
        service, route and status, with the first response)."""
        route = f"{service} {method} {template}"
        self.stats.fail(service, f"{route} {response.status_code}", f"{route} → {describe(response)}")

    def conflict(self, kind: str) -> None:
        """A race a member of staff meets too (two tellers, one customer): not an error."""
        self.stats.conflicts[kind] += 1


@dataclass(frozen=True)
class Acting:
    """One member of staff at work in one branch: who acts is said once, each request names only
    its route, body and what it expects (see :meth:`Api.call`)."""

    api: Api
    staff: str
    branch: str | None

    async def get(
        self, service: str, template: str, params: Mapping[str, Any] | None = None, **path: Any
    ) -> httpx.Response | None:
        return await self.api.call(
            service, "GET", template, staff=self.staff, branch=self.branch, params=params, **path
        )

    async def post(
        self, service: str, template: str, json: Any = None, *, expected: tuple[int, ...] = (), **path: Any
    ) -> httpx.Response | None:
        return await self.api.call(
            service, "POST", template,
            staff=self.staff, branch=self.branch, json=json, expected=expected, **path,
        )  # fmt: skip


def _why(exc: BaseException) -> str:
    """``ReadError (ConnectionResetError: [Errno 104] ...)``: the error and what caused it."""
    cause = exc.__cause__ or exc.__context__
    text = f"{type(exc).__name__}" + (f": {exc}" if str(exc) else "")
    return text + (f" ({type(cause).__name__}: {cause})" if cause is not None else "")


def describe(response: httpx.Response) -> str:
    """``409 {"detail": "..."}``: the status and (the start of) the body, for an error report."""
    body = response.text.strip().replace("\n", " ")
    if len(body) > BODY_CHARS:
        body = body[:BODY_CHARS] + "…"
    return f"{response.status_code} {body}"


def detail(response: httpx.Response) -> str:
    """The ``detail`` of an error response ("" when there is none)."""
    try:
        body = response.json()
    except ValueError:
        return ""
    value = body.get("detail") if isinstance(body, dict) else None
    return value if isinstance(value, str) else ""


def _framework_miss(response: httpx.Response) -> bool:
    """FastAPI's own 404/405 for an unknown route, not a domain "this case does not exist"."""
    if response.status_code == 405:
        return True
    try:
        body = response.json()
    except ValueError:
        return True
    return isinstance(body, dict) and body.get("detail") == "Not Found"
