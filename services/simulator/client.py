"""HTTP to the real services, tolerant of parts that are not there (yet).

A service that does not answer ``/health`` is skipped with one warning (and probed again every
30 s: services land while the simulator runs); a route the service does not have (404 "Not Found"
or 405 from the framework, not from the domain) is skipped with one warning. Every request counts
towards the live progress line.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from services.simulator.tokens import Tokens
from shared.topology import DEFAULT_PORTS

SERVICES = ("reception", "complaint", "followup", "feedback", "hq")
REPROBE_SECONDS = 30.0


def default_base_urls(host: str = "127.0.0.1") -> dict[str, str]:
    return {name: f"http://{host}:{DEFAULT_PORTS[name]}" for name in SERVICES}


def parse_base_urls(text: str | None, host: str = "127.0.0.1") -> dict[str, str]:
    """``reception=http://h:8001,complaint=...`` (any subset; the rest default to ``host``)."""
    urls = default_base_urls(host)
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
class Stats:
    requests: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    #: what the simulation did (visits, complaints, answers, ...), for the live line
    done: Counter[str] = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    @property
    def total(self) -> int:
        return sum(self.requests.values())


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
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
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

    def headers(self, staff: str, branch: str | None) -> dict[str, str]:
        """``staff``'s bearer token for ``branch`` (None: HQ); the service takes the actor from it."""
        return self.tokens.headers(staff, branch)

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
        **path: Any,
    ) -> httpx.Response | None:
        """One request as ``staff`` of ``branch`` (default: the ``b`` path value; None on HQ's
        routes); None when the service or route is missing or the connection failed. Statuses
        in ``expected`` (e.g. 404 while a survey is not created yet) are not errors."""
        route = f"{service} {method} {template}"
        if route in self.missing_routes or not await self.up(service):
            return None
        url = self.base_urls[service] + template.format(**path)
        branch = branch if branch is not None else path.get("b")
        if branch is None and service != "hq":
            raise ValueError(f"{route}: a branch request needs the branch its staff member works in")
        async with self._gate:
            try:
                response = await self.http.request(
                    method, url, json=json, params=params, headers=self.headers(staff, branch)
                )
            except httpx.HTTPError as exc:
                self.stats.requests[service] += 1
                self.stats.errors[service] += 1
                self.available[service] = False
                self._probed_at[service] = time.monotonic()
                self.warn(f"conn:{service}", f"{service}: {type(exc).__name__} at {url}; retrying later")
                return None
        self.stats.requests[service] += 1
        self.stats.statuses[response.status_code] += 1
        if response.status_code in (404, 405) and _framework_miss(response):
            self.missing_routes.add(route)
            self.stats.errors[service] += 1
            self.warn(route, f"{service} has no route {method} {template} yet: that step is skipped")
            return None
        if response.status_code >= 400 and response.status_code not in expected:
            self.stats.errors[service] += 1
            if response.status_code in (401, 403):
                self.warn(
                    f"auth:{service}",
                    f"{service} refused the simulator ({response.status_code}): "
                    "its key is not the one the simulator signs with: set BRANCHCARE_JWT_SECRET to "
                    "the services' secret, or BC_TOKEN to a token naming the simulated branches",
                )
        return response


def _framework_miss(response: httpx.Response) -> bool:
    """FastAPI's own 404/405 for an unknown route, not a domain "this case does not exist"."""
    if response.status_code == 405:
        return True
    try:
        body = response.json()
    except ValueError:
        return True
    return isinstance(body, dict) and body.get("detail") == "Not Found"
