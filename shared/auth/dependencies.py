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
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import Message, Receive, Scope, Send

from shared.asgi import HttpMiddleware
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

#: the staff token scheme's name and description in OpenAPI (every staff dependency below is it)
STAFF_SCHEME = "StaffToken"
STAFF_SCHEME_DESCRIPTION = (
    "Staff JWT. For local development: `BRANCHCARE_DEV_MODE=1 python -m shared.devtokens`."
)
#: request-state key of the request's verified staff principal (verified once per request)
_VERIFIED_KEY = "branchcare_staff_principal"

#: the staff token scheme (also read by routes that admit another token kind beside it)
staff_bearer = HTTPBearer(auto_error=False, scheme_name=STAFF_SCHEME, description=STAFF_SCHEME_DESCRIPTION)


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, read as ``HTTPBearer`` reads it
    (any case of "bearer", surrounding blanks dropped); None when there is none."""
    authorization = request.headers.get("Authorization")
    if not authorization:
        return None
    scheme, _, param = authorization.partition(" ")
    token = param.strip()
    if not scheme or not token or scheme.lower() != "bearer":
        return None
    return token


def authenticated(request: Request, token: str | None) -> Principal:
    """The verified staff member behind ``token`` (the request's bearer token), or 401.

    Verified once per request: every dependency of the request that needs the principal gets the
    one stored in the request's state (FastAPI's per-request dependency cache did this when they
    all went through :func:`current_principal`)."""
    state: dict[str, Any] = request.scope.setdefault("state", {})
    known: Principal | None = state.get(_VERIFIED_KEY)
    if known is not None:
        return known
    config: AuthConfig | None = getattr(request.app.state, "auth_config", None)
    if config is None:  # fail closed: a route reached without install_auth() never passes
        log.error("auth is not installed on this app: call shared.auth.install_auth(app)")
        raise HTTPException(500, "authentication is not configured")
    if token is None:
        raise Unauthorized("missing_token", "missing bearer token (Authorization: Bearer <token>)")
    try:
        principal = staff_verifier(config).verify(token)  # cached per token
    except InvalidToken as exc:
        raise Unauthorized(exc.reason, str(exc)) from None
    state[_VERIFIED_KEY] = principal
    state["principal"] = principal  # request.state.principal: who acted, for the audit row
    return principal


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(staff_bearer)],
) -> Principal:
    """The verified staff member behind the request's bearer token, or 401."""
    return authenticated(request, credentials.credentials if credentials is not None else None)


class StaffToken(HTTPBearer):
    """A dependency that is itself the ``StaffToken`` security scheme and reads the bearer token
    from the request: one node in FastAPI's dependency tree where ``requires`` → ``current_principal``
    → ``staff_bearer`` were three (FastAPI solves every node on every request, cached or not; each
    cost ~20 µs of a command's CPU). The OpenAPI document is the same: FastAPI documents a security
    scheme by its name, and every staff dependency carries the one ``staff_bearer`` carries."""

    def __init__(self, name: str) -> None:
        super().__init__(auto_error=False, scheme_name=STAFF_SCHEME, description=STAFF_SCHEME_DESCRIPTION)
        self.__name__ = self.__qualname__ = name

    def principal(self, request: Request) -> Principal:
        return authenticated(request, bearer_token(request))


class _Requires(StaffToken):
    """:func:`requires` ``(action)``: the principal bound to ``action`` (see there)."""

    def __init__(self, action: str) -> None:
        super().__init__("requires_" + action.replace(".", "_"))
        self.action = action
        self.branch_scoped = action_spec(action).scope is ActionScope.BRANCH
        setattr(self, ACTION_ATTR, action)

    def bound(self, request: Request) -> Principal:
        principal = self.principal(request)
        authorize_role(principal, self.action)
        check = BranchCheck(action=self.action, required=self.branch_scoped)
        request.scope.setdefault("state", {})[BRANCH_CHECK_KEY] = check
        return principal.bound_to(self.action, check)

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        bound = self.bound(request)
        branch_id = request.path_params.get(BRANCH_PARAM)
        if self.branch_scoped and branch_id is not None:
            bound.check_branch(branch_id)
        return bound


@functools.cache
def requires(action: str) -> Callable[..., Awaitable[Principal]]:
    """Dependency factory: 401 without a valid token, 403 unless a role may do ``action`` (and,
    when the path has ``{branch_id}``, in that branch). Returns the principal bound to ``action``.

    An unknown action fails here, at import time of the route module.
    """
    return _Requires(action)


BranchOf = Callable[..., Awaitable[str | None]]
"""A FastAPI dependency answering the branch of the resource a route acts on (from its path id),
or None when there is no such resource (the route then answers its 404)."""


class _RequiresOn(_Requires):
    """:func:`requires_on` ``(action, branch_of)``: one node besides ``branch_of`` itself."""

    def __init__(self, action: str, branch_of: BranchOf) -> None:
        super().__init__(action)
        self.__name__ = self.__qualname__ = f"{self.__name__}_on_{branch_of.__name__}"
        # a real signature: the resource's branch comes from the route's own dependency
        self.__signature__ = on_branch_signature(branch_of)

    async def __call__(self, request: Request, branch: str | None = None) -> Principal:  # type: ignore[override]
        bound = await super().__call__(request)
        if branch is not None:
            bound.check_branch(branch)
        return bound


@functools.cache
def requires_on(action: str, branch_of: BranchOf) -> Callable[..., Awaitable[Principal]]:
    """``requires(action)`` for a route on one resource by id (``/visits/{visit_id}/greet``): the
    resource's branch, looked up by ``branch_of``, is checked before the route runs — before its
    body is even validated — so staff of another branch get the same 403 whatever they send.

    The route (or the command handler) still checks the branch of what it actually loads."""
    return _RequiresOn(action, branch_of)


Load = Callable[..., Awaitable[Any]]
"""A FastAPI dependency loading the resource a route acts on from its path id (e.g. a case's
stream, a ``shared.commands.Loaded``); its value has a ``branch_id`` (None: no such resource)."""


@dataclass(frozen=True)
class Loading:
    """What :func:`requires_loading` gives a route: the principal bound to its action, whose
    branch check the resource's branch passed, and the resource as loaded."""

    staff: Principal
    loaded: Any


class _RequiresLoading(_Requires):
    """:func:`requires_loading` ``(action, load)``: ONE node of FastAPI's dependency tree where
    ``requires_on(action, branch_of)`` → ``branch_of`` → ``load`` (and the route's second,
    cached, use of ``load``) were four: FastAPI solves every node on every request, cached or not
    (issue 19: a fifth of a lifecycle step's CPU went to solving them). Its parameters are
    ``load``'s own (the path id, ``load``'s dependencies), so the OpenAPI document is the same."""

    def __init__(self, action: str, load: Load) -> None:
        super().__init__(action)
        self.__name__ = self.__qualname__ = f"{self.__name__}_loading_{load.__name__}"
        self.load = load
        params = list(inspect.signature(load, eval_str=True).parameters.values())
        self.passes_request = any(p.name == "request" for p in params)
        keyword = inspect.Parameter.KEYWORD_ONLY
        if not self.passes_request:
            params.append(inspect.Parameter("request", keyword, annotation=Request))
        self.__signature__ = inspect.Signature(
            [p.replace(kind=keyword) for p in params], return_annotation=Loading
        )

    async def __call__(self, request: Request, **kw: Any) -> Loading:  # type: ignore[override]
        bound = await super().__call__(request)  # the token and the role first: no load for a 401/403
        if self.passes_request:
            kw["request"] = request
        loaded = await self.load(**kw)
        if loaded.branch_id is not None:
            bound.check_branch(loaded.branch_id)
        return Loading(bound, loaded)


@functools.cache
def requires_loading(action: str, load: Load) -> Callable[..., Awaitable[Loading]]:
    """``requires_on(action, branch_of)`` for a route that also starts from the resource it loads
    (a command on a stream: ``shared.command_routes``), as one dependency: 401 without a valid
    token, 403 unless a role may do ``action``; then ``load`` and 403 unless the resource's branch
    is the principal's — before the route's body is even validated, as with ``requires_on``. A
    resource that does not exist (``branch_id`` None) is the route's 404 to answer."""
    return _RequiresLoading(action, load)


def actor_metadata(
    principal: Principal, x_correlation_id: Annotated[str | None, Header()] = None
) -> Metadata:
    """The command's metadata for a staff member or a gateway (the actor is who the token names)."""
    if x_correlation_id is None:
        return Metadata(actor=principal.staff_id)
    try:
        return Metadata(actor=principal.staff_id, correlation_id=x_correlation_id)  # type: ignore[arg-type]
    except ValueError:
        raise HTTPException(400, "X-Correlation-Id must be a UUID") from None


class _PrincipalMetadata(StaffToken):
    """:func:`principal_metadata`: the command's metadata, one dependency node."""

    async def __call__(  # type: ignore[override]
        self, request: Request, x_correlation_id: Annotated[str | None, Header()] = None
    ) -> Metadata:
        return actor_metadata(self.principal(request), x_correlation_id)


principal_metadata: Callable[..., Awaitable[Metadata]] = _PrincipalMetadata("principal_metadata")
"""FastAPI dependency: the command's metadata; the actor is the verified token's staff id."""


class BranchCheckMiddleware(HttpMiddleware):
    """Replace a < 400 answer by a 500 when a branch-scoped route never checked its branch."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
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


def on_branch_signature(branch_of: BranchOf) -> inspect.Signature:
    """``(request, branch)`` with the resource's branch from the route's own ``branch_of``
    dependency: the signature FastAPI reads for a one-node dependency on a resource's branch."""
    keyword = inspect.Parameter.KEYWORD_ONLY
    return inspect.Signature(
        [
            inspect.Parameter("request", keyword, annotation=Request),
            inspect.Parameter("branch", keyword, annotation=Annotated[str | None, Depends(branch_of)]),
        ],
        return_annotation=Principal,
    )
