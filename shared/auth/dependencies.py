"""FastAPI side of authentication: ``current_principal``, ``requires(action)`` (``install_auth`` is in
:mod:`shared.auth.install`, which also needs the route enumeration of :mod:`shared.auth.routes`).

A route declares its action exactly once::

    Staff = Annotated[Principal, Depends(requires("complaint.escalate"))]

    @router.post("/complaints/{complaint_id}/escalate")
    async def escalate(complaint_id: UUID, staff: Staff, ...):
        loaded = await app.get(complaint_id)
        staff.check_branch(loaded.branch_id)     # branch known only after loading
        ...

When the path has ``{branch_id}``, ``requires`` checks that branch itself. Otherwise the route
must call ``check_branch`` before it answers: :class:`BranchCheckMiddleware` turns a successful
answer of a branch-scoped route that never checked its branch into a 500 (fail closed), so a
forgotten check shows up in the first test instead of leaking another branch's data.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Header, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.auth.config import AuthConfig
from shared.auth.errors import Unauthorized
from shared.auth.permissions import Scope as ActionScope
from shared.auth.permissions import action_spec, authorize_role
from shared.auth.principal import BranchCheck, Principal
from shared.auth.tokens import InvalidToken
from shared.auth.verified import staff_verifier
from shared.envelope import Metadata

log = logging.getLogger("shared.auth")

#: the path parameter ``requires`` checks by itself
BRANCH_PARAM = "branch_id"
#: attribute on a ``requires(action)`` dependency naming its action (read by route enumeration)
ACTION_ATTR = "__branchcare_action__"
#: request-state key of the pending branch check (read by the audit trail and idempotency)
BRANCH_CHECK_KEY = "branchcare_branch_check"
_CHECK_KEY = BRANCH_CHECK_KEY  # the former private name, kept for modules not yet moved over

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="StaffToken",
    description="Staff JWT. For local development: `BRANCHCARE_DEV_MODE=1 python -m shared.devtokens`.",
)


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The verified staff member behind the request's bearer token, or 401."""
    config: AuthConfig | None = getattr(request.app.state, "auth_config", None)
    if config is None:  # fail closed: a route reached without install_auth() never passes
        log.error("auth is not installed on this app: call shared.auth.install_auth(app)")
        raise HTTPException(500, "authentication is not configured")
    if credentials is None:
        raise Unauthorized("missing_token", "missing bearer token (Authorization: Bearer <token>)")
    try:
        principal = staff_verifier(config).verify(credentials.credentials)  # cached per token
    except InvalidToken as exc:
        raise Unauthorized(exc.reason, str(exc)) from None
    request.state.principal = principal
    return principal


@functools.cache
def requires(action: str) -> Callable[..., Awaitable[Principal]]:
    """Dependency factory: 401 without a valid token, 403 unless a role may do ``action`` (and,
    when the path has ``{branch_id}``, in that branch). Returns the principal bound to ``action``.

    An unknown action fails here, at import time of the route module.
    """
    spec = action_spec(action)
    branch_scoped = spec.scope is ActionScope.BRANCH

    async def dependency(
        request: Request, principal: Annotated[Principal, Depends(current_principal)]
    ) -> Principal:
        authorize_role(principal, action)
        check = BranchCheck(action=action, required=branch_scoped)
        request.scope.setdefault("state", {})[BRANCH_CHECK_KEY] = check
        bound = principal.bound_to(action, check)
        branch_id = request.path_params.get(BRANCH_PARAM)
        if branch_scoped and branch_id is not None:
            bound.check_branch(branch_id)
        return bound

    dependency.__name__ = dependency.__qualname__ = "requires_" + action.replace(".", "_")
    setattr(dependency, ACTION_ATTR, action)
    return dependency


BranchOf = Callable[..., Awaitable[str | None]]
"""A FastAPI dependency answering the branch of the resource a route acts on (from its path id),
or None when there is no such resource (the route then answers its 404)."""


@functools.cache
def requires_on(action: str, branch_of: BranchOf) -> Callable[..., Awaitable[Principal]]:
    """``requires(action)`` for a route on one resource by id (``/visits/{visit_id}/greet``): the
    resource's branch, looked up by ``branch_of``, is checked before the route runs — before its
    body is even validated — so staff of another branch get the same 403 whatever they send.

    The route (or the command handler) still checks the branch of what it actually loads."""
    guard = requires(action)

    async def dependency(staff: Principal, branch: str | None) -> Principal:
        if branch is not None:
            staff.check_branch(branch)
        return staff

    # a real signature: string annotations naming closure variables would not resolve
    keyword = inspect.Parameter.KEYWORD_ONLY
    dependency.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter("staff", keyword, annotation=Annotated[Principal, Depends(guard)]),
            inspect.Parameter("branch", keyword, annotation=Annotated[str | None, Depends(branch_of)]),
        ],
        return_annotation=Principal,
    )
    dependency.__name__ = dependency.__qualname__ = f"{guard.__name__}_on_{branch_of.__name__}"
    return dependency


async def principal_metadata(
    principal: Annotated[Principal, Depends(current_principal)],
    x_correlation_id: Annotated[str | None, Header()] = None,
) -> Metadata:
    """Drop-in body for ``shared.http.command_metadata``: the actor is the token's staff id."""
    if x_correlation_id is None:
        return Metadata(actor=principal.staff_id)
    try:
        return Metadata(actor=principal.staff_id, correlation_id=x_correlation_id)  # type: ignore[arg-type]
    except ValueError:
        raise HTTPException(400, "X-Correlation-Id must be a UUID") from None


class BranchCheckMiddleware:
    """Replace a < 400 answer by a 500 when a branch-scoped route never checked its branch."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        blocked = False

        async def guarded_send(message: Message) -> None:
            nonlocal blocked
            if blocked:
                return
            if message["type"] == "http.response.start" and message["status"] < 400:
                check: BranchCheck | None = state.get(BRANCH_CHECK_KEY)
                if check is not None and check.pending:
                    blocked = True
                    log.error(
                        "%s %s (action %s) answered without checking the branch: call "
                        "principal.check_branch(branch_id) before acting or answering",
                        scope.get("method"),
                        scope.get("path"),
                        check.action,
                    )
                    body = json.dumps({"detail": "internal error: branch authorization missing"}).encode()
                    headers = [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ]
                    await send({"type": "http.response.start", "status": 500, "headers": headers})
                    await send({"type": "http.response.body", "body": body})
                    return
            await send(message)

        await self.app(scope, receive, guarded_send)
