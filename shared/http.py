"""HTTP pieces every service shares: error mapping, health/readiness/metrics, who is acting."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shared.decider import DomainError, NotFound
from shared.envelope import Metadata
from shared.eventstore import ConcurrencyError, EventTooLarge

_STAFF_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(NotFound)
    async def not_found(_: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(DomainError)
    async def not_allowed(_: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(ConcurrencyError)
    async def conflict(_: Request, exc: ConcurrencyError) -> JSONResponse:
        body = {"detail": str(exc), "current_version": exc.actual_version}
        return JSONResponse(body, status_code=409)

    @app.exception_handler(EventTooLarge)
    async def too_large(_: Request, exc: EventTooLarge) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=413)


def metrics_response() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


async def command_metadata(
    x_staff_id: Annotated[str | None, Header(description="Acting staff member")] = None,
    x_correlation_id: Annotated[str | None, Header()] = None,
) -> Metadata:
    """Who acts and in which conversation.

    The actor is taken from the request's identity, never from its body. Until the security issue
    lands this is the ``X-Staff-Id`` header; that issue replaces this one function with bearer-
    token verification, and every route follows.
    """
    actor = x_staff_id or "anonymous"
    if not _STAFF_ID.match(actor):
        raise HTTPException(400, "X-Staff-Id must be 1-64 letters, digits, '.', '_' or '-'")
    if x_correlation_id is None:
        return Metadata(actor=actor)
    try:
        return Metadata(actor=actor, correlation_id=x_correlation_id)  # type: ignore[arg-type]
    except ValueError:
        raise HTTPException(400, "X-Correlation-Id must be a UUID") from None


def expected_version(if_match: str | None) -> int | None:
    """Parse an ``If-Match`` header holding a stream version (quoted or not)."""
    if if_match is None:
        return None
    value = if_match.strip().removeprefix("W/").strip('"')
    if not value.isdigit():
        raise HTTPException(400, 'If-Match must be the version you read, e.g. "3"')
    return int(value)
