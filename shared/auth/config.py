"""Token verification settings from the environment; a service refuses to start without a key."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from shared.crypto import DEV_MODE_ENV, KeyConfigError, is_dev_mode
from shared.settings import key_environment

log = logging.getLogger("shared.auth")

JWT_SECRET_ENV = "BRANCHCARE_JWT_SECRET"
MIN_SECRET_BYTES = 32
#: clock skew tolerated on exp / nbf / iat; bounded on purpose
LEEWAY = timedelta(seconds=30)
#: tokens living longer than this are refused even when correctly signed
MAX_LIFETIME = timedelta(hours=24)
#: public on purpose (the dev runner prints tokens signed with it): only with BRANCHCARE_DEV_MODE=1
DEV_JWT_SECRET = "DEV-ONLY-branchcare-jwt-secret-do-not-use-in-production"


class AuthConfigError(KeyConfigError):
    """The JWT secret is missing, too short or the public dev secret outside dev mode."""


@dataclass(frozen=True)
class AuthConfig:
    secret: bytes = field(repr=False)
    leeway: timedelta = LEEWAY
    max_lifetime: timedelta = MAX_LIFETIME
    dev_mode: bool = False

    def __post_init__(self) -> None:
        if len(self.secret) < MIN_SECRET_BYTES:
            raise AuthConfigError(f"the JWT secret must be at least {MIN_SECRET_BYTES} bytes")
        if not timedelta(0) <= self.leeway <= LEEWAY:
            raise AuthConfigError(f"clock-skew leeway must be between 0 and {LEEWAY.seconds} s")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AuthConfig:
        """``BRANCHCARE_JWT_SECRET`` (≥ 32 bytes). Missing: refuse to start, except with
        ``BRANCHCARE_DEV_MODE=1``, where the public development secret is used and logged."""
        env = key_environment() if environ is None else environ
        dev = is_dev_mode(env)
        raw = env.get(JWT_SECRET_ENV, "")
        if not raw:
            if not dev:
                raise AuthConfigError(
                    f"{JWT_SECRET_ENV} is not set: give it ≥ {MIN_SECRET_BYTES} random bytes "
                    "(python -c 'import secrets;print(secrets.token_urlsafe(48))'), "
                    f"or set {DEV_MODE_ENV}=1 to use the public development secret"
                )
            log.warning(
                "%s=1 and %s unset: using the PUBLIC development JWT secret; anyone can mint tokens. "
                "Never in production.",
                DEV_MODE_ENV,
                JWT_SECRET_ENV,
            )
            return cls(DEV_JWT_SECRET.encode(), dev_mode=True)
        secret = raw.encode()
        if len(secret) < MIN_SECRET_BYTES:
            raise AuthConfigError(f"{JWT_SECRET_ENV} is shorter than {MIN_SECRET_BYTES} bytes")
        if raw == DEV_JWT_SECRET and not dev:
            raise AuthConfigError(f"{JWT_SECRET_ENV} is the public development secret; use a random one")
        return cls(secret, dev_mode=dev)
