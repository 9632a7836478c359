"""Enumerate every route of an app with the action it declares, for exhaustive auth tests.

``route_actions(app)`` reads the ``requires(action)`` dependency of each route (the one place a
route names its action); ``unguarded_routes(app)`` lists what is neither public nor guarded.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import fastapi.routing
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Mount, Route

from shared.auth.dependencies import ACTION_ATTR, BRANCH_PARAM, StaffToken, current_principal
from shared.auth.permissions import ActionSpec, action_spec

#: reachable without a token (issue 7), plus FastAPI's own documentation pages
PUBLIC_PATHS: frozenset[str] = frozenset(
    {
        "/health",
        "/ready",
        "/metrics",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
        "/openapi.json",
        "/asyncapi.json",
    }
)


@dataclass(frozen=True)
class RouteAction:
    method: str
    path: str
    name: str
    action: str | None
    authenticated: bool
    branch_in_path: bool
    public: bool

    @property
    def spec(self) -> ActionSpec | None:
        return action_spec(self.action) if self.action else None

    @property
    def needs_deferred_branch_check(self) -> bool:
        """Branch-scoped action, branch not in the path: the route must call ``check_branch``."""
        spec = self.spec
        return spec is not None and spec.scope == "branch" and not self.branch_in_path


def _walk(dependant: Dependant) -> Iterable[Dependant]:
    for dep in dependant.dependencies:
        yield dep
        yield from _walk(dep)


def effective_routes(app: object) -> Iterator[tuple[BaseRoute, Any]]:
    """(original route, effective route) pairs. FastAPI ≥ 0.130-ish mounts included routers lazily
    (``_IncludedRouter``); its public ``iter_route_contexts`` resolves them, with the prefix and
    the include-level dependencies applied. Older FastAPI copies routes on include."""
    routes: list[BaseRoute] = list(getattr(app, "routes", []))
    iter_contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    if iter_contexts is None:
        for route in routes:
            yield route, route
        return
    for context in iter_contexts(routes):
        yield context.original_route, context


def _route_action(path: str, dependant: Dependant | None) -> tuple[str | None, bool]:
    actions: set[str] = set()
    authenticated = False
    for dep in _walk(dependant) if dependant is not None else ():
        action = getattr(dep.call, ACTION_ATTR, None)
        if action is not None:
            actions.add(action)
        if dep.call is current_principal or isinstance(dep.call, StaffToken):
            authenticated = True
    if len(actions) > 1:
        raise ValueError(f"{path} declares several actions {sorted(actions)}: declare exactly one")
    return (actions.pop() if actions else None), authenticated


def route_actions(app: object, *, public: frozenset[str] = PUBLIC_PATHS) -> list[RouteAction]:
    """One row per (method, path) of ``app`` (a FastAPI app or an APIRouter), sorted."""
    rows: list[RouteAction] = []
    for original, route in effective_routes(app):
        path = str(getattr(route, "path_format", None) or getattr(route, "path", ""))
        name = str(getattr(route, "name", None) or "")
        if isinstance(original, APIRoute):
            action, authenticated = _route_action(path, getattr(route, "dependant", None))
            branch_in_path = BRANCH_PARAM in (getattr(route, "param_convertors", None) or {})
            for method in sorted(getattr(route, "methods", None) or ()):
                rows.append(
                    RouteAction(method, path, name, action, authenticated, branch_in_path, path in public)
                )
        elif isinstance(original, Route):
            for method in sorted(getattr(route, "methods", None) or {"GET"}):
                rows.append(RouteAction(method, path, name, None, False, False, path in public))
        elif isinstance(original, Mount):
            rows.append(RouteAction("*", path, name, None, False, False, path in public))
    return sorted(rows, key=lambda r: (r.path, r.method))


def unguarded_routes(app: object, *, public: frozenset[str] = PUBLIC_PATHS) -> list[RouteAction]:
    """Routes that are not public and declare no action: each one is a hole (HEAD is ignored)."""
    rows = route_actions(app, public=public)
    return [r for r in rows if r.action is None and not r.public and r.method != "HEAD"]
