"""Signing keys of the token kinds that are not staff tokens (service, gateway).

Each kind's key is derived (HMAC-SHA256 with a label of its own) from a configured secret, so a
token of one kind never verifies as another. The secret is the kind's own variable, else the next
one in line, else the staff secret (``AuthConfig``); callers pass the environment in.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence

from fastapi import HTTPException, Request

from shared.auth.config import MIN_SECRET_BYTES, AuthConfig, AuthConfigError

DeriveKey = Callable[[bytes | str], bytes]


def derive_key(secret: bytes | str, label: bytes, kind: str) -> bytes:
    """The key of ``kind`` tokens derived from ``secret`` (at least ``MIN_SECRET_BYTES``)."""
    raw = secret.encode() if isinstance(secret, str) else secret
    if len(raw) < MIN_SECRET_BYTES:
        raise ValueError(f"the {kind}-token secret must be at least {MIN_SECRET_BYTES} bytes")
    return hmac.new(raw, label, hashlib.sha256).digest()


def key_from_env(env: Mapping[str, str], names: Sequence[str], derive: DeriveKey) -> bytes:
    """The first of ``names`` that is set, else the staff secret (same dev-mode rules)."""
    for name in names:
        own = env.get(name, "")
        if own:
            if len(own.encode()) < MIN_SECRET_BYTES:
                raise AuthConfigError(f"{name} is shorter than {MIN_SECRET_BYTES} bytes")
            return derive(own)
    return derive(AuthConfig.from_env(env).secret)


def app_key(
    request: Request,
    environment: Callable[[], Mapping[str, str]],
    *,
    names: Sequence[str],
    derive: DeriveKey,
    cache_attr: str,
    kind: str,
) -> bytes:
    """The verification key of this app: cached on ``app.state``; from the environment's secret,
    else derived from the staff secret ``install_auth`` configured. Fails closed (500) when
    neither exists."""
    state = request.app.state
    key: bytes | None = getattr(state, cache_attr, None)
    if key is not None:
        return key
    env = environment()
    if any(env.get(name) for name in names):
        key = key_from_env(env, names, derive)
    else:
        config: AuthConfig | None = getattr(state, "auth_config", None)
        if config is None:
            raise HTTPException(500, f"{kind} authentication is not configured")
        key = derive(config.secret)
    setattr(state, cache_attr, key)
    return key
