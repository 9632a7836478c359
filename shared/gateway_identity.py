"""The identity of an SMS / voice gateway: its own token type, allowed only to answer surveys and
report delivery, audited as the gateway (``gw:<name>``).

A gateway is outside BranchCare (a carrier's webhook), so it gets neither a staff token nor a
service token: a long-lived bearer token of its own type, minted by an operator
(``branchcare gateway token``), whose claims are ``sub = "gw:<name>"``, ``aud =
"branchcare-gateway"``, ``roles = ["gateway"]``, ``branches`` (the branches whose surveys it
carries, or ``["*"]``), ``iat``, ``exp`` (at most :data:`MAX_GATEWAY_TOKEN_LIFETIME`) and a
``jti``. Kept apart from the other two the same way they are kept apart from each other:

- its signing key is derived (HMAC, own label) from ``BRANCHCARE_GATEWAY_JWT_SECRET`` or, when
  unset, from the service secret (itself falling back to the staff secret): a staff or service
  token never verifies as a gateway token, nor a gateway token as either;
- its audience: staff verification refuses any token with an audience, service verification any
  other audience;
- ``gw:`` subjects and the ``gateway`` role are outside the staff vocabulary.

Which routes a gateway may call is :data:`GATEWAY_ACTIONS`; such a route takes
:func:`staff_or_gateway` instead of ``requires_on``: a staff token goes through the staff
permission table as before (a teller of another branch is still refused), a gateway token through
this table and its ``branches``.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from fastapi import Request

from shared.auth.config import LEEWAY
from shared.auth.dependencies import (
    ACTION_ATTR,
    BRANCH_CHECK_KEY,
    BranchOf,
    StaffToken,
    authenticated,
    bearer_token,
    on_branch_signature,
)
from shared.auth.dependencies import actor_metadata as actor_metadata
from shared.auth.derived_keys import app_key, derive_key, key_from_env
from shared.auth.errors import Forbidden, Unauthorized
from shared.auth.permissions import authorize_role
from shared.auth.principal import ALL_BRANCHES, BranchCheck, Principal
from shared.auth.verified import MAX_CACHED_CHARS, TokenCache
from shared.service_identity import SERVICE_SECRET_ENV, verify_claims
from shared.settings import key_environment

GATEWAY_SECRET_ENV = "BRANCHCARE_GATEWAY_JWT_SECRET"
GATEWAY_AUDIENCE = "branchcare-gateway"
GATEWAY_ROLE = "gateway"
ALGORITHM = "HS256"
MAX_GATEWAY_TOKEN_LIFETIME = timedelta(days=366)
_KEY_LABEL = b"branchcare.gateway-token.v1"
_SUBJECT = re.compile(r"^gw:(?P<name>[a-z][a-z0-9_\-]{1,31})$")
_BRANCH = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")

#: the only actions a gateway token may perform (both also open to floor staff, by phone)
GATEWAY_ACTIONS: frozenset[str] = frozenset({"feedback.response.submit", "feedback.delivery.report"})


@dataclass(frozen=True)
class GatewayPrincipal(Principal):
    """A verified gateway, shaped like a staff principal so routes use it alike: ``staff_id`` is
    ``gw:<name>`` (events' actor, audit rows); no roles, so no staff permission ever matches and
    texts stay hidden (``may_read_texts``); ``check_branch`` checks the token's branches."""

    def check_branch(self, branch_id: str) -> None:
        if self.action is None:
            raise RuntimeError("check_branch needs a principal bound to an action")
        if ALL_BRANCHES not in self.branches and branch_id not in self.branches:
            detail = f"branch {branch_id} is outside this gateway's branches"
            raise Forbidden("branch", detail, staff_id=self.staff_id, action=self.action)
        if self._check is not None:
            self._check.checked_branch = branch_id


def gateway_key(secret: bytes | str) -> bytes:
    return derive_key(secret, _KEY_LABEL, "gateway")


def gateway_key_from_env(environ: Mapping[str, str] | None = None) -> bytes:
    """``BRANCHCARE_GATEWAY_JWT_SECRET``, else the service secret, else the staff secret."""
    env = key_environment() if environ is None else environ
    return key_from_env(env, (GATEWAY_SECRET_ENV, SERVICE_SECRET_ENV), gateway_key)


def issue_gateway_token(
    name: str,
    key: bytes,
    branches: Iterable[str] = (ALL_BRANCHES,),
    *,
    ttl: timedelta = timedelta(days=90),
    now: datetime | None = None,
) -> str:
    """A token for gateway ``gw:<name>`` serving ``branches`` (``["*"]``: every branch)."""
    if not _SUBJECT.match(f"gw:{name}"):
        raise ValueError("gateway names are 2-32 lower-case letters, digits, '_' or '-'")
    if not timedelta(0) < ttl <= MAX_GATEWAY_TOKEN_LIFETIME:
        raise ValueError(f"ttl must be positive and at most {MAX_GATEWAY_TOKEN_LIFETIME.days} days")
    chosen = sorted(set(branches))
    if not chosen or (ALL_BRANCHES in chosen and len(chosen) > 1):
        raise ValueError("branches must be ['*'] or a list of branch ids")
    if any(b != ALL_BRANCHES and not _BRANCH.match(b) for b in chosen):
        raise ValueError("a branch id is 1-64 letters, digits, '_' or '-'")
    issued = (now or datetime.now(UTC)).replace(microsecond=0)
    claims = {
        "sub": f"gw:{name}",
        "aud": GATEWAY_AUDIENCE,
        "roles": [GATEWAY_ROLE],
        "branches": chosen,
        "iat": int(issued.timestamp()),
        "exp": int((issued + ttl).timestamp()),
        "jti": str(uuid.uuid4()),
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def decode_gateway_token(token: str, key: bytes, *, leeway: timedelta = LEEWAY) -> GatewayPrincipal:
    """Verify a gateway token; raises :class:`Unauthorized` (401) with a bounded reason."""
    return verify_gateway_token(token, key, leeway=leeway)[0]


def verify_gateway_token(
    token: str, key: bytes, *, leeway: timedelta = LEEWAY
) -> tuple[GatewayPrincipal, float]:
    """:func:`decode_gateway_token`, also answering the token's ``exp`` (POSIX seconds)."""
    claims = verify_claims(
        token,
        key,
        audience=GATEWAY_AUDIENCE,
        required=["sub", "aud", "roles", "branches", "iat", "exp"],
        kind="gateway",
        leeway=leeway,
    )
    match = _SUBJECT.match(str(claims.get("sub", "")))
    branches = claims.get("branches")
    valid_branches = (
        isinstance(branches, list)
        and branches
        and all(isinstance(b, str) and (b == ALL_BRANCHES or _BRANCH.match(b)) for b in branches)
        and (ALL_BRANCHES not in branches or len(branches) == 1)
    )
    if match is None or claims.get("roles") != [GATEWAY_ROLE] or not valid_branches:
        raise Unauthorized("bad_claims", "gateway token claims are invalid")
    assert isinstance(branches, list)
    lifetime = int(claims["exp"]) - int(claims["iat"])  # type: ignore[call-overload]
    if not 0 < lifetime <= MAX_GATEWAY_TOKEN_LIFETIME.total_seconds():
        raise Unauthorized("too_long_lived", "gateway token lifetime is out of bounds")
    principal = GatewayPrincipal(
        staff_id=f"gw:{match.group('name')}", roles=frozenset(), branches=frozenset(branches)
    )
    return principal, float(claims["exp"])  # type: ignore[arg-type]


def _is_gateway_token(token: str) -> bool:
    """Which verifier to use: the unverified audience only chooses; the chosen one verifies.
    A function of the token's text alone, so a staff token's answer is remembered (every survey
    answer by phone decoded the staff token's payload again just to find it is not a gateway's)."""
    if len(token) > MAX_CACHED_CHARS:
        return _audience_is_gateway(token)
    return _remembered_audience(token)


def _audience_is_gateway(token: str) -> bool:
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return False
    return claims.get("aud") == GATEWAY_AUDIENCE


_remembered_audience = functools.lru_cache(maxsize=4096)(_audience_is_gateway)


def _app_key(request: Request) -> bytes:
    return app_key(
        request,
        key_environment,
        names=(GATEWAY_SECRET_ENV, SERVICE_SECRET_ENV),
        derive=gateway_key,
        cache_attr="gateway_token_key",
        kind="gateway",
    )


def _verified_gateway(request: Request, token: str) -> GatewayPrincipal | None:
    """The gateway behind ``token`` (verified, or remembered from an earlier verification until
    it expires: :mod:`shared.auth.verified`), or None when it is not a gateway token."""
    state = request.app.state
    cache: TokenCache[GatewayPrincipal] | None = getattr(state, "gateway_tokens", None)
    if cache is None:
        cache = state.gateway_tokens = TokenCache()
    gateway = cache.get(token)
    if gateway is None and _is_gateway_token(token):
        gateway, exp = verify_gateway_token(token, _app_key(request))
        cache.put(token, gateway, exp + LEEWAY.total_seconds())
    return gateway


class _StaffOrGateway(StaffToken):
    """:func:`staff_or_gateway`: one dependency node besides ``branch_of`` (it reads the bearer
    token itself, and is the ``StaffToken`` scheme in OpenAPI as ``staff_bearer`` was)."""

    def __init__(self, action: str, branch_of: BranchOf) -> None:
        super().__init__(f"staff_or_gateway_{action.replace('.', '_')}")
        self.action = action
        setattr(self, ACTION_ATTR, action)
        self.__signature__ = on_branch_signature(branch_of)

    async def __call__(self, request: Request, branch: str | None = None) -> Principal:  # type: ignore[override]
        action = self.action
        check = BranchCheck(action=action, required=True)
        request.scope.setdefault("state", {})[BRANCH_CHECK_KEY] = check
        token = bearer_token(request)
        gateway = _verified_gateway(request, token) if token is not None else None
        if gateway is not None:
            request.state.principal = gateway
            bound: Principal = gateway.bound_to(action, check)
        else:
            staff = authenticated(request, token)
            authorize_role(staff, action)
            bound = staff.bound_to(action, check)
        if branch is not None:
            bound.check_branch(branch)
        return bound


@functools.cache
def staff_or_gateway(action: str, branch_of: BranchOf) -> Callable[..., Awaitable[Principal]]:
    """``requires_on(action, branch_of)`` that also admits a gateway token for a gateway action.

    Staff: the staff permission table and their branches, as ``requires_on``. Gateway: the action
    must be in :data:`GATEWAY_ACTIONS` and the resource's branch among the token's branches. Either
    way the principal is bound to ``action`` with the request's branch check, and the audit row
    names who acted (``request.state.principal``)."""
    if action not in GATEWAY_ACTIONS:
        raise KeyError(f"{action} is not a gateway action (shared.gateway_identity.GATEWAY_ACTIONS)")
    return _StaffOrGateway(action, branch_of)
