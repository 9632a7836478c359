"""HTTP pieces every service shares: error mapping, health/readiness/metrics, who is acting."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import AfterValidator

from shared.auth import principal_metadata
from shared.contracts.refs import PATTERN as REF_PATTERN
from shared.contracts.refs import check_customer_ref
from shared.decider import DomainError, NotFound
from shared.event_rows import EventTooLarge
from shared.eventstore import ConcurrencyError
from shared.pii import scrub_text

#: a ``customer_ref`` in a route's path: the issued shape, never a raw number (422 otherwise)
CustomerRefPath = Annotated[
    str,
    Path(pattern=REF_PATTERN, description="the customer's pseudonymous customer_ref (never a raw number)"),
    AfterValidator(check_customer_ref),
]

#: a ``branch_id`` in a route's path (the ids branches are configured with)
BranchIdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_\-]{1,64}$")]


def validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """A 422's errors without the submitted values: FastAPI's default body repeats the input (a
    customer's number typed into the wrong field would be echoed and logged by proxies; a NaN or
    Infinity in it cannot even be rendered, a 500). Field names are scrubbed too: they may come
    from the body."""
    return [
        {
            "type": str(error.get("type", "")),
            "loc": [
                part if isinstance(part, int) else scrub_text(str(part))[:64] for part in error.get("loc", ())
            ],
            "msg": scrub_text(str(error.get("msg", ""))),
        }
        for error in exc.errors()
    ]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": validation_errors(exc)}, status_code=422)

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


command_metadata = principal_metadata
"""FastAPI dependency: who acts (the verified bearer token's ``sub``) and in which conversation
(``X-Correlation-Id``, a UUID; one is assigned by the audit middleware when absent).

The actor always comes from the request's verified identity, never from its body or another
header. The route still declares its action with ``shared.auth.requires``."""


def expected_version(if_match: str | None) -> int | None:
    """Parse an ``If-Match`` header holding a stream version (quoted or not)."""
    if if_match is None:
        return None
    value = if_match.strip().removeprefix("W/").strip('"')
    if not value.isdigit():
        raise HTTPException(400, 'If-Match must be the version you read, e.g. "3"')
    return int(value)
