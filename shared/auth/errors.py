"""401 and 403 as exceptions FastAPI answers by itself, with a reason and a bounded reason code.

Every rejection is counted (``branchcare_auth_rejections_total{status,reason}``: both labels come
from fixed sets) and logged with the staff id when known — never with the token or the key.
"""

from __future__ import annotations

import logging

from fastapi import HTTPException
from prometheus_client import Counter

log = logging.getLogger("shared.auth")

REJECTIONS = Counter(
    "branchcare_auth_rejections_total",
    "Requests rejected by authentication (401) or authorization (403), by reason code",
    ["status", "reason"],
)


class Unauthorized(HTTPException):
    """401: no usable identity (missing, malformed, expired, forged token)."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        safe = detail.replace('"', "'").replace("\\", "/")
        challenge = f'Bearer error="invalid_token", error_description="{safe}"'
        if reason == "missing_token":
            challenge = 'Bearer realm="branchcare"'
        super().__init__(401, detail, headers={"WWW-Authenticate": challenge})
        REJECTIONS.labels("401", reason).inc()
        log.info("authentication rejected: %s", detail)


class Forbidden(HTTPException):
    """403: a known staff member whose roles or branches do not cover this action."""

    def __init__(self, reason: str, detail: str, *, staff_id: str, action: str | None) -> None:
        self.reason = reason
        super().__init__(403, detail)
        REJECTIONS.labels("403", reason).inc()
        log.warning("authorization denied: staff=%s action=%s: %s", staff_id, action, detail)
