"""Signed bearer tokens (JWT, HS256): issue for the dev runner and tests, verify for every route.

Claims: ``sub`` (staff id), ``roles``, ``branches`` (branch ids or ``["*"]`` for HQ-wide tokens),
optional ``region``, ``iat`` and ``exp`` (both required; lifetime at most 24 h), optional ``nbf``.
Only HS256 is accepted (``alg=none`` and algorithm swaps are refused), with 30 s of clock skew.
A rejection names what is wrong with the token, never anything about the key.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from shared.auth.config import LEEWAY, MAX_LIFETIME, MIN_SECRET_BYTES
from shared.auth.permissions import validate_scope
from shared.auth.principal import ALL_BRANCHES, Principal

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ("sub", "roles", "branches", "exp", "iat")
#: a bound on what we are willing to parse at all (an honest token is a few hundred bytes)
MAX_TOKEN_CHARS = 8192
MAX_BRANCHES = 10_000
STAFF_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
BRANCH_ID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
REGION = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


class InvalidToken(Exception):
    """The token cannot identify anyone; ``reason`` is a bounded code, ``str()`` the explanation."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def _secret(secret: bytes | str) -> bytes:
    key = secret.encode() if isinstance(secret, str) else secret
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(f"the JWT secret must be at least {MIN_SECRET_BYTES} bytes")
    return key


def _claims_problem(claims: Mapping[str, Any]) -> str | None:
    sub, roles, branches, region = (claims.get(k) for k in ("sub", "roles", "branches", "region"))
    if not isinstance(sub, str) or not STAFF_ID.match(sub):
        return "claim sub must be a staff id (1-64 letters, digits, '.', '_', '-')"
    if not isinstance(roles, list) or not roles or not all(isinstance(r, str) for r in roles):
        return "claim roles must be a non-empty list of role names"
    if not isinstance(branches, list) or not branches or len(branches) > MAX_BRANCHES:
        return "claim branches must be a non-empty list of branch ids or ['*']"
    if not all(isinstance(b, str) and (b == ALL_BRANCHES or BRANCH_ID.match(b)) for b in branches):
        return "claim branches must hold branch ids (1-64 letters, digits, '_', '-') or '*'"
    if region is not None and (not isinstance(region, str) or not REGION.match(region)):
        return "claim region must be a region id"
    return validate_scope(roles, branches)


def issue_token(
    staff_id: str,
    roles: Iterable[str],
    branches: Iterable[str],
    ttl: timedelta,
    secret: bytes | str,
    *,
    region: str | None = None,
    now: datetime | None = None,
) -> str:
    """A signed token; refuses to mint one that verification would reject (e.g. a wildcard
    ``branches`` for a branch role, or a lifetime above 24 h)."""
    issued = (now or datetime.now(UTC)).replace(microsecond=0)
    if not timedelta(0) < ttl <= MAX_LIFETIME:
        raise ValueError(f"ttl must be positive and at most {MAX_LIFETIME}")
    claims: dict[str, Any] = {
        "sub": staff_id,
        "roles": sorted(set(roles)),
        "branches": sorted(set(branches)),
        "iat": int(issued.timestamp()),
        "exp": int((issued + ttl).timestamp()),
    }
    if region is not None:
        claims["region"] = region
    problem = _claims_problem(claims)
    if problem:
        raise ValueError(problem)
    return jwt.encode(claims, _secret(secret), algorithm=ALGORITHM)


_PYJWT_REASONS: tuple[tuple[type[jwt.PyJWTError], str, str], ...] = (
    (jwt.ExpiredSignatureError, "expired", "token expired"),
    (jwt.ImmatureSignatureError, "not_yet_valid", "token not yet valid (iat/nbf in the future)"),
    (jwt.InvalidSignatureError, "bad_signature", "token signature does not verify"),
    (jwt.InvalidAlgorithmError, "bad_algorithm", f"token algorithm not allowed (only {ALGORITHM})"),
    (jwt.InvalidIssuedAtError, "bad_claims", "claim iat must be a number"),
)


def decode_token(
    token: str,
    secret: bytes | str,
    *,
    leeway: timedelta = LEEWAY,
    max_lifetime: timedelta = MAX_LIFETIME,
) -> Principal:
    """Verify signature, algorithm, time claims and claim shapes; return who it is.

    Raises :class:`InvalidToken` with a reason code: ``malformed``, ``expired``,
    ``not_yet_valid``, ``bad_signature``, ``bad_algorithm``, ``missing_claim``, ``bad_claims``,
    ``too_long_lived``.
    """
    return verify_token(token, secret, leeway=leeway, max_lifetime=max_lifetime)[0]


def verify_token(
    token: str,
    secret: bytes | str,
    *,
    leeway: timedelta = LEEWAY,
    max_lifetime: timedelta = MAX_LIFETIME,
) -> tuple[Principal, float]:
    """:func:`decode_token`, also answering the token's ``exp`` (POSIX seconds), for caches."""
    if len(token) > MAX_TOKEN_CHARS:
        raise InvalidToken("malformed", "token too large")
    try:
        claims = jwt.decode(
            token,
            _secret(secret),
            algorithms=[ALGORITHM],
            leeway=leeway,
            options={"require": list(REQUIRED_CLAIMS)},
        )
    except jwt.MissingRequiredClaimError as exc:
        raise InvalidToken("missing_claim", f"token lacks the {exc.claim} claim") from None
    except jwt.PyJWTError as exc:
        for kind, reason, detail in _PYJWT_REASONS:
            if isinstance(exc, kind):
                raise InvalidToken(reason, detail) from None
        if isinstance(exc, jwt.DecodeError):
            raise InvalidToken("malformed", "token is not a well-formed JWT") from None
        raise InvalidToken("bad_claims", "token claims are invalid") from None
    problem = _claims_problem(claims)
    if problem:
        raise InvalidToken("bad_claims", problem)
    lifetime = claims["exp"] - claims["iat"]
    if lifetime <= 0 or lifetime > max_lifetime.total_seconds():
        raise InvalidToken("too_long_lived", f"token lifetime must be positive and at most {max_lifetime}")
    principal = Principal(
        staff_id=claims["sub"],
        roles=frozenset(claims["roles"]),
        branches=frozenset(claims["branches"]),
        region=claims.get("region"),
    )
    return principal, float(claims["exp"])
