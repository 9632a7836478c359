"""What a request's audit row says: the route template, the branch and resource it touched, the
verified actor and the correlation id, never the raw path, query or body."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi import Request
from starlette.types import Scope

from shared.audit.entry import AuditEntry, clean_resource
from shared.auth.dependencies import ACTION_ATTR, BRANCH_CHECK_KEY

CORRELATION_HEADER = b"x-correlation-id"
_BRANCH_PARAM = "branch_id"
ANNOTATION_KEY = "branchcare_audit"


def annotate(request: Request, *, branch_id: str | None = None, resource_id: str | None = None) -> None:
    """Tell the middleware what a route learnt while running (a created resource's id, the branch
    of a loaded resource) when neither is in the path."""
    annotate_scope(request.scope, branch_id=branch_id, resource_id=resource_id)


def annotate_scope(
    scope: Scope, *, branch_id: str | None = None, resource_id: str | None = None, status: int | None = None
) -> None:
    notes: dict[str, Any] = scope.setdefault("state", {}).setdefault(ANNOTATION_KEY, {})
    if branch_id is not None:
        notes["branch_id"] = branch_id
    if resource_id is not None:
        notes["resource_id"] = resource_id
    if status is not None:
        notes["status"] = status


def route_template(path: str, path_params: Mapping[str, Any]) -> str:
    """``/visits/6f1c…/greet`` with ``{visit_id: '6f1c…'}`` → ``/visits/{visit_id}/greet``.

    Built from the matched path's parameters, so it also holds behind router prefixes."""
    by_value: dict[str, str] = {}
    for name, value in path_params.items():
        by_value.setdefault(str(value), name)
    return "/".join(
        "{" + by_value[segment] + "}" if segment in by_value else segment for segment in path.split("/")
    )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            try:
                return bytes(value).decode("latin-1")
            except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
                return None
    return None


def ensure_correlation(scope: Scope) -> UUID | None:
    """The request's correlation id; one is assigned (and passed on as a header, so the route's
    events carry the same id) when the client sent none. A malformed one is left to the route."""
    return correlation_of(scope)[0]


def correlation_of(scope: Scope) -> tuple[UUID | None, str]:
    """:func:`ensure_correlation`, and the header's text as log lines carry it (at most 64
    characters; a malformed id too, as the client sent it)."""
    raw = _header(scope, CORRELATION_HEADER)
    if raw is None:
        assigned = uuid.uuid4()
        text = str(assigned)
        scope["headers"] = [*scope.get("headers", ()), (CORRELATION_HEADER, text.encode())]
        return assigned, text
    try:
        return UUID(raw), raw[:64]
    except ValueError:
        return None, raw[:64]


def _declared_action(route: object) -> str | None:
    """The action a route declares (``requires``/``requires_service``), even when the request was
    refused before the dependency recorded it."""
    pending = list(getattr(getattr(route, "dependant", None), "dependencies", ()))
    while pending:
        dep = pending.pop()
        action = getattr(dep.call, ACTION_ATTR, None)
        if isinstance(action, str):
            return action
        pending.extend(dep.dependencies)
    return None


def _actor(state: Mapping[str, Any]) -> tuple[str | None, bool]:
    """(staff id, authenticated): the verified principal (staff or service), else nobody. A
    header naming someone is never an actor (the request failed authentication, or it never
    reached a route)."""
    for key in ("principal", "service_principal"):
        principal = state.get(key)
        staff_id = getattr(principal, "staff_id", None)
        if isinstance(staff_id, str):
            return staff_id, True
    return None, False


def describe(
    scope: Scope, status: int, correlation_id: UUID | None, service: str, at: datetime
) -> AuditEntry:
    """The audit row of a finished (or failed) request: only what the route matched, never the raw
    path, query or body."""
    state: Mapping[str, Any] = scope.get("state") or {}
    params: dict[str, Any] = dict(scope.get("path_params") or {})
    matched = scope.get("route") is not None
    route = route_template(scope.get("path", ""), params) if matched else None
    notes: Mapping[str, Any] = state.get(ANNOTATION_KEY) or {}
    check = state.get(BRANCH_CHECK_KEY)
    branch = (
        notes.get("branch_id")
        or (str(params[_BRANCH_PARAM]) if _BRANCH_PARAM in params else None)
        or getattr(check, "checked_branch", None)
    )
    resource = notes.get("resource_id")
    if resource is None:
        others = [str(v) for k, v in params.items() if k != _BRANCH_PARAM]
        resource = others[-1] if others else None
    staff_id, authenticated = _actor(state)
    resource = clean_resource(resource)
    return AuditEntry(
        at=at,
        service=service,
        kind="command",
        staff_id=staff_id,
        authenticated=authenticated,
        action=getattr(check, "action", None) or _declared_action(scope.get("route")),
        method=str(scope.get("method", "")),
        route=route,
        resource_id=resource,
        branch_id=branch,
        status=status,
        correlation_id=correlation_id,
    )
