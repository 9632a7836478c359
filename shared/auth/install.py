"""Turning auth on for an app: the key, the branch-check guard and ``x-action`` in OpenAPI.

Its own module so that :mod:`shared.auth.dependencies` (the per-request side) and
:mod:`shared.auth.routes` (route enumeration, which reads the dependencies) import one way only.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from shared.auth.config import AuthConfig
from shared.auth.dependencies import BranchCheckMiddleware
from shared.auth.routes import route_actions


def install_auth(app: FastAPI, config: AuthConfig | None = None) -> AuthConfig:
    """Enable bearer auth on ``app``: key from the environment unless given (raises
    :class:`~shared.auth.config.AuthConfigError` — refuse to start — when it is missing), the
    branch-check guard, and ``x-action`` on every operation of the OpenAPI document."""
    config = config or AuthConfig.from_env()
    app.state.auth_config = config
    app.add_middleware(BranchCheckMiddleware)
    add_actions_to_openapi(app)
    return config


def add_actions_to_openapi(app: FastAPI) -> None:
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        for route in route_actions(app):
            operation = schema.get("paths", {}).get(route.path, {}).get(route.method.lower())
            if operation is not None and route.action is not None:
                operation["x-action"] = route.action
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
