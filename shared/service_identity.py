"""How one BranchCare service proves who it is to another (service-to-service calls).

A service calls an internal route with ``Authorization: Bearer <service token>``: a short-lived
JWT (HS256, ≤ 15 min; the client mints a fresh 60 s one per call) whose claims are ``sub =
"svc:<service>"``, ``aud = "branchcare-internal"``, ``roles = ["service"]``, ``iat``, ``exp``.

Why not a staff token with a ``service`` role in the staff permission table: a service acts for
no branch and no member of staff, and a staff token must never open an internal route (nor a
service token a staff route). Three things keep the two apart:

- the signing key is derived (HMAC, own label) from ``BRANCHCARE_SERVICE_JWT_SECRET`` or, when
  that is unset, from the staff secret ``BRANCHCARE_JWT_SECRET``: a staff token's signature never
  verifies here, and a service token's never verifies on a staff route;
- the ``aud`` claim: staff verification refuses any token with an audience;
- ``sub`` / ``roles`` are outside the staff token's vocabulary (``svc:`` ids, role ``service``).

Which service may do what is :data:`SERVICE_ACTIONS` (one small table, like the staff one).
Set ``BRANCHCARE_SERVICE_JWT_SECRET`` in production and give it only to the services that call or
serve internal routes: with the fallback, whoever verifies staff tokens can mint service tokens.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Annotated

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.auth.config import LEEWAY
from shared.auth.dependencies import ACTION_ATTR
from shared.auth.derived_keys import app_key, derive_key, key_from_env
from shared.auth.errors import Forbidden, Unauthorized
from shared.settings import key_environment

__all__ = [
    "SERVICE_ACTIONS",
    "SERVICE_AUDIENCE",
    "SERVICE_SECRET_ENV",
    "ServicePrincipal",
    "decode_service_token",
    "issue_service_token",
    "requires_service",
    "service_key",
    "service_key_from_env",
]

SERVICE_SECRET_ENV = "BRANCHCARE_SERVICE_JWT_SECRET"
SERVICE_AUDIENCE = "branchcare-internal"
SERVICE_ROLE = "service"
ALGORITHM = "HS256"
MAX_SERVICE_TOKEN_LIFETIME = timedelta(minutes=15)
DEFAULT_TTL = timedelta(seconds=60)
_KEY_LABEL = b"branchcare.service-token.v1"
_SUBJECT = re.compile(r"^svc:(?P<name>[a-z][a-z0-9_\-]{1,31})$")

#: action -> the services that may perform it. Internal routes only; never a staff action.
SERVICE_ACTIONS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        # issue 7: "the feedback service's SMS sender resolves customer_ref to a phone number
        # through the vault at send time only"
        "pii.resolve_contact": frozenset({"feedback"}),
    }
)


@dataclass(frozen=True)
class ServicePrincipal:
    """A verified calling service. ``staff_id`` (``svc:<name>``) is what audit rows name."""

    service: str
    action: str | None = None

    @property
    def staff_id(self) -> str:
        return f"svc:{self.service}"


def service_key(secret: bytes | str) -> bytes:
    """The service-token signing key derived from a configured secret (own label: a staff token
    and a service token are never signed with the same key)."""
    return derive_key(secret, _KEY_LABEL, "service")


def service_key_from_env(environ: Mapping[str, str] | None = None) -> bytes:
    """``BRANCHCARE_SERVICE_JWT_SECRET`` if set, else the staff secret (same dev-mode rules)."""
    return key_from_env(key_environment() if environ is None else environ, (SERVICE_SECRET_ENV,), service_key)


def issue_service_token(
    service: str, key: bytes, *, ttl: timedelta = DEFAULT_TTL, now: datetime | None = None
) -> str:
    """A token for ``svc:<service>`` signed with a :func:`service_key`."""
    if not _SUBJECT.match(f"svc:{service}"):
        raise ValueError("service names are 2-32 lower-case letters, digits, '_' or '-'")
    if not timedelta(0) < ttl <= MAX_SERVICE_TOKEN_LIFETIME:
        raise ValueError(f"ttl must be positive and at most {MAX_SERVICE_TOKEN_LIFETIME}")
    issued = (now or datetime.now(UTC)).replace(microsecond=0)
    claims = {
        "sub": f"svc:{service}",
        "aud": SERVICE_AUDIENCE,
        "roles": [SERVICE_ROLE],
        "iat": int(issued.timestamp()),
        "exp": int((issued + ttl).timestamp()),
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def verify_claims(
    token: str, key: bytes, *, audience: str, required: list[str], kind: str, leeway: timedelta = LEEWAY
) -> dict[str, object]:
    """The claims of a JWT of ``audience`` signed with ``key``; :class:`Unauthorized` (401) with a
    bounded reason naming the ``kind`` of token otherwise. Service and gateway tokens share it."""
    if len(token) > 4096:
        raise Unauthorized("malformed", "token too large")
    try:
        claims: dict[str, object] = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=audience,
            leeway=leeway,
            options={"require": required},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("expired", f"{kind} token expired") from None
    except jwt.InvalidAudienceError:
        raise Unauthorized("bad_claims", f"not a {kind} token (audience)") from None
    except jwt.MissingRequiredClaimError as exc:
        raise Unauthorized("missing_claim", f"{kind} token lacks the {exc.claim} claim") from None
    except jwt.InvalidSignatureError:
        raise Unauthorized("bad_signature", f"{kind} token signature does not verify") from None
    except jwt.PyJWTError:
        raise Unauthorized("malformed", f"{kind} token is invalid") from None
    return claims


def decode_service_token(token: str, key: bytes, *, leeway: timedelta = LEEWAY) -> ServicePrincipal:
    """Verify a service token; raises :class:`Unauthorized` (401) with a bounded reason."""
    claims = verify_claims(
        token,
        key,
        audience=SERVICE_AUDIENCE,
        required=["sub", "aud", "roles", "iat", "exp"],
        kind="service",
        leeway=leeway,
    )
    match = _SUBJECT.match(str(claims.get("sub", "")))
    if match is None or claims.get("roles") != [SERVICE_ROLE]:
        raise Unauthorized("bad_claims", "service token claims are invalid")
    lifetime = int(claims["exp"]) - int(claims["iat"])  # type: ignore[call-overload]
    if not 0 < lifetime <= MAX_SERVICE_TOKEN_LIFETIME.total_seconds():
        raise Unauthorized("too_long_lived", "service token lifetime must be positive and at most 15 min")
    return ServicePrincipal(match.group("name"))


_bearer = HTTPBearer(auto_error=False, scheme_name="ServiceToken", description="Service-to-service JWT")


def _app_key(request: Request) -> bytes:
    return app_key(
        request,
        key_environment,
        names=(SERVICE_SECRET_ENV,),
        derive=service_key,
        cache_attr="service_token_key",
        kind="service",
    )


@functools.cache
def requires_service(action: str) -> Callable[..., Awaitable[ServicePrincipal]]:
    """Dependency: 401 without a valid service token, 403 unless the service may do ``action``."""
    if action not in SERVICE_ACTIONS:
        raise KeyError(f"unknown service action {action!r}: add it to shared.service_identity")
    allowed = SERVICE_ACTIONS[action]

    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> ServicePrincipal:
        if credentials is None:
            raise Unauthorized("missing_token", "missing service token (Authorization: Bearer <token>)")
        principal = decode_service_token(credentials.credentials, _app_key(request))
        request.state.service_principal = principal
        request.state.service_action = action
        if principal.service not in allowed:
            detail = f"service {principal.service} may not {action}"
            raise Forbidden("role", detail, staff_id=principal.staff_id, action=action)
        return ServicePrincipal(principal.service, action)

    dependency.__name__ = dependency.__qualname__ = "requires_service_" + action.replace(".", "_")
    setattr(dependency, ACTION_ATTR, action)
    return dependency
