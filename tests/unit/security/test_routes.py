"""Route enumeration: each route's single declared action is found, holes are listed, and the
OpenAPI document carries ``x-action``. (No requests here; the HTTP behaviour is in
tests/integration/security/test_auth_mechanism.py.)"""

from __future__ import annotations

import secrets
from typing import Annotated

import pytest
from fastapi import APIRouter, Depends, FastAPI

from shared.auth import (
    AuthConfig,
    Principal,
    current_principal,
    install_auth,
    requires,
    route_actions,
    unguarded_routes,
)

Reader = Annotated[Principal, Depends(requires("complaint.read"))]
Escalator = Annotated[Principal, Depends(requires("complaint.escalate"))]


def build() -> FastAPI:
    app = FastAPI()
    router = APIRouter()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {}

    @router.get("/branches/{branch_id}/complaints")
    async def board(branch_id: str, staff: Reader) -> list[str]:
        return []

    @router.post("/complaints/{complaint_id}/escalate")
    async def escalate(complaint_id: str, staff: Escalator) -> dict[str, str]:
        return {}

    @router.get("/hq/branches")
    async def hq(staff: Annotated[Principal, Depends(requires("hq.read"))]) -> list[str]:
        return []

    @router.get("/whoami")
    async def whoami(staff: Annotated[Principal, Depends(current_principal)]) -> str:
        return staff.staff_id

    @router.get("/open")
    async def forgotten() -> str:
        return "oops"

    app.include_router(router)
    return app


def test_every_route_is_listed_with_its_action() -> None:
    rows = {(r.method, r.path): r for r in route_actions(build())}
    assert rows["GET", "/branches/{branch_id}/complaints"].action == "complaint.read"
    assert rows["GET", "/branches/{branch_id}/complaints"].branch_in_path
    escalate = rows["POST", "/complaints/{complaint_id}/escalate"]
    assert escalate.action == "complaint.escalate" and escalate.needs_deferred_branch_check
    assert rows["GET", "/hq/branches"].action == "hq.read"
    assert not rows["GET", "/hq/branches"].needs_deferred_branch_check
    assert rows["GET", "/whoami"].authenticated and rows["GET", "/whoami"].action is None
    assert rows["GET", "/health"].public
    assert rows["GET", "/docs"].public and rows["GET", "/openapi.json"].public


def test_unguarded_routes_are_the_holes() -> None:
    holes = {(r.method, r.path) for r in unguarded_routes(build())}
    assert holes == {("GET", "/whoami"), ("GET", "/open")}


def test_routers_can_be_enumerated_before_they_are_mounted() -> None:
    router = APIRouter()

    @router.get("/visits/{visit_id}")
    async def visit(
        visit_id: str, staff: Annotated[Principal, Depends(requires("reception.visit.read"))]
    ) -> str:
        return visit_id

    assert [r.action for r in route_actions(router)] == ["reception.visit.read"]


def test_a_route_declaring_two_actions_is_an_error() -> None:
    router = APIRouter()

    @router.get("/twice")
    async def twice(a: Reader, b: Escalator) -> str:
        return ""

    with pytest.raises(ValueError, match="declare exactly one"):
        route_actions(router)


def test_an_unknown_action_fails_at_declaration() -> None:
    with pytest.raises(KeyError, match="unknown action"):
        requires("complaint.delete_everything")


def test_requires_is_one_dependency_per_action() -> None:
    assert requires("complaint.read") is requires("complaint.read")


def test_openapi_carries_x_action_and_the_bearer_scheme() -> None:
    app = build()
    install_auth(app, AuthConfig(secrets.token_bytes(32)))
    schema = app.openapi()
    assert schema["paths"]["/branches/{branch_id}/complaints"]["get"]["x-action"] == "complaint.read"
    assert schema["paths"]["/complaints/{complaint_id}/escalate"]["post"]["x-action"] == "complaint.escalate"
    assert "x-action" not in schema["paths"]["/health"]["get"]
    assert schema["components"]["securitySchemes"]["StaffToken"]["scheme"] == "bearer"
    assert app.openapi() is schema


def test_install_auth_refuses_to_start_without_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.auth import AuthConfigError

    monkeypatch.delenv("BRANCHCARE_JWT_SECRET", raising=False)
    monkeypatch.delenv("BRANCHCARE_DEV_MODE", raising=False)
    with pytest.raises(AuthConfigError):
        install_auth(FastAPI())
