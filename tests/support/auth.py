"""Staff bearer tokens for tests, signed with the run's ``BRANCHCARE_JWT_SECRET``.

``tests/conftest.py`` puts a random secret (and random PII / master keys) into ``os.environ`` at
session start; every service of the run (in-process app, whose ``create_app`` reads the
environment, or ``ServiceProcess`` subprocess, which inherits it) verifies tokens with it. The
secret is read at call time, so a test that monkeypatches it signs with its own. Outside pytest
(e.g. the benchmark against ``make run``), a service in development mode uses the public
development secret, and so do these helpers.

- ``bearer(staff_id, branches, roles)`` → ``{"Authorization": "Bearer …"}``; ``lobby_manager``,
  ``hq_analyst``, ``admin`` for the usual identities (HQ ones are HQ-wide).
- ``StaffAuth``: an ``httpx.Auth`` for a harness's client — every request carries a token of one
  member of staff for the branches the client has worked in (each ``/branches/{b}/…`` path adds
  ``b``; ``allow(b)`` adds a branch known only from events). It only spares the tests from
  naming the branch on every call: the services still check the branch of every resource.
"""

from __future__ import annotations

import os
import re
from collections.abc import Generator, Iterable
from datetime import timedelta
from urllib.parse import unquote

import httpx

from shared.auth.config import DEV_JWT_SECRET, JWT_SECRET_ENV
from shared.auth.tokens import issue_token

#: the three branch roles at once: a harness's member of staff may do every branch command
BRANCH_ROLES: tuple[str, ...] = ("counter_staff", "lobby_manager", "branch_head")
ALL_BRANCHES: tuple[str, ...] = ("*",)
TTL = timedelta(hours=1)
_BRANCH_PATH = re.compile(r"^/branches/([^/]+)/")


def secret() -> str:
    return os.environ.get(JWT_SECRET_ENV) or DEV_JWT_SECRET


def staff_token(staff_id: str, roles: Iterable[str], branches: Iterable[str], ttl: timedelta = TTL) -> str:
    """A signed token for a member of staff with ``roles`` in ``branches`` (``["*"]``: every branch,
    for HQ roles; branch roles must name their branches)."""
    return issue_token(staff_id, roles, branches, ttl, secret())


def bearer(
    staff_id: str = "lobby-1",
    branches: Iterable[str] = ("b001",),
    roles: Iterable[str] = BRANCH_ROLES,
    *,
    ttl: timedelta = TTL,
) -> dict[str, str]:
    """The ``Authorization`` header of ``staff_id`` with ``roles`` in ``branches``."""
    return {"Authorization": f"Bearer {staff_token(staff_id, roles, branches, ttl)}"}


def lobby_manager(*branches: str, staff_id: str = "lobby-manager-1") -> dict[str, str]:
    """May record, read and progress complaints in ``branches``."""
    return bearer(staff_id, branches, ["lobby_manager"])


def hq_analyst(staff_id: str = "hq-analyst-1") -> dict[str, str]:
    """Reads HQ's figures and every branch's records; issues no command."""
    return bearer(staff_id, ALL_BRANCHES, ["hq_analyst"])


def admin(staff_id: str = "admin-1") -> dict[str, str]:
    """The audit trail, erasure, HQ rebuilds; no branch's records."""
    return bearer(staff_id, ALL_BRANCHES, ["admin"])


class StaffAuth(httpx.Auth):
    """One member of staff's token on every request of a client, for the branches it worked in.

    A request that already carries ``Authorization`` keeps it (a test acting as someone else).
    """

    def __init__(
        self, staff_id: str = "lobby-1", roles: Iterable[str] = BRANCH_ROLES, branches: Iterable[str] = ()
    ) -> None:
        self.staff_id = staff_id
        self.roles = tuple(roles)
        self.branches: set[str] = set(branches)
        self._cached: tuple[frozenset[str], str, str] | None = None

    def allow(self, *branches: str) -> None:
        """Also act in these branches (e.g. one whose resources came from events only)."""
        self.branches.update(branches)

    def headers(self) -> dict[str, str]:
        """The current ``Authorization`` header (for a request made without this client)."""
        return {"Authorization": f"Bearer {self._token()}"}

    def _token(self) -> str:
        scope = frozenset(self.branches or {"b001"})
        key = secret()
        if self._cached is None or self._cached[:2] != (scope, key):
            self._cached = (scope, key, staff_token(self.staff_id, self.roles, scope))
        return self._cached[2]

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        match = _BRANCH_PATH.match(request.url.path)
        if match:
            self.branches.add(unquote(match.group(1)))
        if "authorization" not in request.headers:
            request.headers["Authorization"] = f"Bearer {self._token()}"
        yield request
