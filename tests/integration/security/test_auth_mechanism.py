"""The auth mechanism over real HTTP (uvicorn on a free port, httpx): a tiny app whose routes
declare their action with ``requires()`` shows the role × own/other-branch matrix (200/403), every
bad token (401), the actor taken from the token, and the fail-closed guard for a route that
forgets to check the branch of a loaded resource. No database or broker involved."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import httpx
import jwt
import pytest
import pytest_asyncio
import uvicorn
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Response
from pydantic import BaseModel

from shared.auth import (
    AuthConfig,
    Principal,
    install_auth,
    issue_token,
    principal_metadata,
    requires,
    requires_on,
    route_actions,
    unguarded_routes,
)
from shared.devstack import free_port
from shared.envelope import Metadata

SECRET = secrets.token_urlsafe(48)
OWN, OTHER = "b001", "b002"
#: the "store": resource id -> branch
COMPLAINTS = {"c-own": OWN, "c-other": OTHER}
ESCALATED: list[tuple[str, str]] = []
_UUID = "6f1c1f3e-2b7a-4c39-9a53-0d2b1f0c8e11"


async def complaint_branch(complaint_id: str) -> str | None:
    """The branch of a complaint by id, for ``requires_on`` (None: unknown, the route's 404)."""
    return COMPLAINTS.get(complaint_id)


class Classification(BaseModel):
    category: str


def build_app() -> FastAPI:
    app = FastAPI()
    router = APIRouter()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/branches/{branch_id}/complaints")
    async def board(
        branch_id: str, staff: Annotated[Principal, Depends(requires("complaint.read"))]
    ) -> dict[str, str]:
        return {"branch": branch_id, "viewer": staff.staff_id}

    @router.post("/branches/{branch_id}/complaints", status_code=201)
    async def receive(
        branch_id: str,
        staff: Annotated[Principal, Depends(requires("complaint.create"))],
        meta: Annotated[Metadata, Depends(principal_metadata)],
    ) -> dict[str, str]:
        return {"branch": branch_id, "actor": meta.actor, "correlation_id": str(meta.correlation_id)}

    def load(complaint_id: str) -> str:
        if complaint_id not in COMPLAINTS:
            raise HTTPException(404, "no such complaint")
        return COMPLAINTS[complaint_id]

    @router.post("/complaints/{complaint_id}/escalate")
    async def escalate(
        complaint_id: str, staff: Annotated[Principal, Depends(requires("complaint.escalate"))]
    ) -> dict[str, str]:
        staff.check_branch(load(complaint_id))  # before the side effect
        ESCALATED.append((complaint_id, staff.staff_id))
        return {"escalated": complaint_id}

    @router.post("/complaints/{complaint_id}/classify")
    async def classify(
        complaint_id: str,
        body: Classification,
        staff: Annotated[Principal, Depends(requires_on("complaint.classify", complaint_branch))],
    ) -> dict[str, str]:
        if complaint_id not in COMPLAINTS:
            raise HTTPException(404, "no such complaint")
        return {"classified": complaint_id, "by": staff.staff_id}

    @router.get("/complaints/{complaint_id}")
    async def show(
        complaint_id: str, staff: Annotated[Principal, Depends(requires("complaint.read"))]
    ) -> dict[str, str]:
        branch = load(complaint_id)
        staff.check_branch(branch)
        return {"complaint": complaint_id, "branch": branch}

    @router.get("/leaky/{complaint_id}")
    async def leaky(
        complaint_id: str, staff: Annotated[Principal, Depends(requires("complaint.read"))]
    ) -> dict[str, str]:
        return {"complaint": complaint_id, "branch": load(complaint_id)}  # forgot check_branch

    @router.get("/hq/branches/{branch_id}")
    async def hq(branch_id: str, staff: Annotated[Principal, Depends(requires("hq.read"))]) -> dict[str, str]:
        return {"branch": branch_id}

    @router.delete("/customers/{ref}/pii", status_code=204)
    async def erase(ref: str, staff: Annotated[Principal, Depends(requires("pii.erase"))]) -> Response:
        return Response(status_code=204)

    @router.get("/catalogue")
    async def catalogue(
        staff: Annotated[Principal, Depends(requires("reception.catalogue.read"))],
    ) -> list[str]:
        return ["id card"]

    # a router-level declaration under a prefix that carries the branch
    lobby = APIRouter(
        prefix="/branches/{branch_id}", dependencies=[Depends(requires("reception.lobby.read"))]
    )

    @lobby.get("/lobby")
    async def lobby_board(branch_id: str) -> dict[str, str]:
        return {"branch": branch_id}

    app.include_router(router)
    app.include_router(lobby)
    install_auth(app, AuthConfig(SECRET.encode()))
    return app


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def base_url() -> AsyncIterator[str]:
    port = free_port()
    config = uvicorn.Config(build_app(), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(250):  # wait for the socket, at most ~5 s
        if server.started:
            break
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await asyncio.wait_for(task, 10)


@pytest_asyncio.fixture(loop_scope="session")
async def client(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as c:
        yield c


def token(role: str) -> str:
    branches = ["*"] if role in {"hq_analyst", "admin"} else [OWN]
    return issue_token(f"{role}-7", [role], branches, timedelta(hours=1), SECRET)


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


ROLES = ("counter_staff", "lobby_manager", "branch_head", "hq_analyst", "admin")

# (method, path template, {role: (status on own-branch target, status on other-branch target)})
MATRIX: list[tuple[str, str, dict[str, tuple[int, int]]]] = [
    (
        "GET",
        "/branches/{b}/complaints",
        {"counter_staff": (200, 403), "lobby_manager": (200, 403), "branch_head": (200, 403),
         "hq_analyst": (200, 200), "admin": (403, 403)},
    ),
    (
        "POST",
        "/branches/{b}/complaints",
        {"counter_staff": (201, 403), "lobby_manager": (201, 403), "branch_head": (201, 403),
         "hq_analyst": (403, 403), "admin": (403, 403)},
    ),
    (
        "POST",
        "/complaints/{c}/escalate",
        {"counter_staff": (403, 403), "lobby_manager": (200, 403), "branch_head": (200, 403),
         "hq_analyst": (403, 403), "admin": (403, 403)},
    ),
    (
        "GET",
        "/complaints/{c}",
        {"counter_staff": (200, 403), "lobby_manager": (200, 403), "branch_head": (200, 403),
         "hq_analyst": (200, 200), "admin": (403, 403)},
    ),
    (
        "GET",
        "/branches/{b}/lobby",
        {"counter_staff": (200, 403), "lobby_manager": (200, 403), "branch_head": (200, 403),
         "hq_analyst": (200, 200), "admin": (403, 403)},
    ),
    (
        "GET",
        "/hq/branches/{b}",
        {"counter_staff": (403, 403), "lobby_manager": (403, 403), "branch_head": (403, 403),
         "hq_analyst": (200, 200), "admin": (403, 403)},
    ),
    (
        "DELETE",
        "/customers/cref_0123456789abcdef/pii",
        {"counter_staff": (403, 403), "lobby_manager": (403, 403), "branch_head": (403, 403),
         "hq_analyst": (403, 403), "admin": (204, 204)},
    ),
    (
        "GET",
        "/catalogue",
        {role: (200, 200) for role in ROLES},
    ),
]  # fmt: skip


async def test_role_by_branch_matrix(client: httpx.AsyncClient) -> None:
    ESCALATED.clear()
    seen: dict[tuple[str, str, str, str], int] = {}
    expected: dict[tuple[str, str, str, str], int] = {}
    for method, template, by_role in MATRIX:
        for role in ROLES:
            for side, branch, complaint in (("own", OWN, "c-own"), ("other", OTHER, "c-other")):
                path = template.format(b=branch, c=complaint)
                response = await client.request(method, path, headers=bearer(token(role)))
                key = (method, template, role, side)
                seen[key] = response.status_code
                expected[key] = by_role[role][0 if side == "own" else 1]
                if response.status_code == 403:
                    assert response.json()["detail"], key
    assert seen == expected
    # the other branch's complaint was never touched, even though the handler ran
    assert sorted(ESCALATED) == [("c-own", "branch_head-7"), ("c-own", "lobby_manager-7")]


async def test_a_multi_branch_token_reaches_exactly_its_branches(client: httpx.AsyncClient) -> None:
    two = issue_token("lm-2", ["lobby_manager"], [OWN, "b003"], timedelta(hours=1), SECRET)
    assert (await client.get("/branches/b003/complaints", headers=bearer(two))).status_code == 200
    assert (await client.get(f"/branches/{OWN}/complaints", headers=bearer(two))).status_code == 200
    assert (await client.get(f"/branches/{OTHER}/complaints", headers=bearer(two))).status_code == 403


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(datetime.now(UTC).timestamp())
    claims = {"sub": "lm-1", "roles": ["lobby_manager"], "branches": [OWN], "iat": now, "exp": now + 600}
    claims.update(overrides)
    return claims


def bad_tokens() -> dict[str, str]:
    now = int(datetime.now(UTC).timestamp())
    good = token("lobby_manager")
    header, _, signature = good.split(".")
    no_branches = _claims()
    del no_branches["branches"]
    return {
        "expired": jwt.encode(_claims(iat=now - 7200, exp=now - 3600), SECRET, algorithm="HS256"),
        "wrong key": issue_token(
            "lm-1", ["lobby_manager"], [OWN], timedelta(hours=1), secrets.token_urlsafe(48)
        ),
        "tampered": f"{header}.{_b64(_claims(roles=['branch_head'], branches=[OWN, OTHER]))}.{signature}",
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims())}.",
        "missing claim": jwt.encode(no_branches, SECRET, algorithm="HS256"),
        "garbage": "not-a-token",
    }


@pytest.mark.parametrize("case", list(bad_tokens()))
async def test_bad_tokens_get_401_with_a_reason(client: httpx.AsyncClient, case: str) -> None:
    response = await client.get(f"/branches/{OWN}/complaints", headers=bearer(bad_tokens()[case]))
    assert response.status_code == 401, case
    assert response.json()["detail"]
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    assert SECRET not in response.text


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"X-Staff-Id": "lm-b001"}])
async def test_no_bearer_token_gets_401(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    for method, path in (("GET", f"/branches/{OWN}/complaints"), ("POST", "/complaints/c-own/escalate")):
        response = await client.request(method, path, headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_health_and_openapi_are_public_and_carry_actions(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).status_code == 200
    schema = (await client.get("/openapi.json")).json()
    assert schema["paths"]["/complaints/{complaint_id}/escalate"]["post"]["x-action"] == "complaint.escalate"
    assert schema["paths"]["/branches/{branch_id}/lobby"]["get"]["x-action"] == "reception.lobby.read"


async def test_the_actor_is_the_token_subject_never_a_header_or_body(client: httpx.AsyncClient) -> None:
    headers = {**bearer(token("counter_staff")), "X-Staff-Id": "mallory", "X-Correlation-Id": str(_UUID)}
    response = await client.post(f"/branches/{OWN}/complaints", headers=headers, json={"actor": "mallory"})
    assert response.status_code == 201
    assert response.json() == {"branch": OWN, "actor": "counter_staff-7", "correlation_id": str(_UUID)}


async def test_a_route_that_forgets_the_branch_check_fails_closed(client: httpx.AsyncClient) -> None:
    for complaint in ("c-own", "c-other"):
        response = await client.get(f"/leaky/{complaint}", headers=bearer(token("lobby_manager")))
        assert response.status_code == 500
        assert "branch" not in response.json() and OTHER not in response.text
    # the role check still comes first, and errors pass through unchanged
    assert (await client.get("/leaky/c-own", headers=bearer(token("admin")))).status_code == 403
    assert (await client.get("/leaky/nope", headers=bearer(token("lobby_manager")))).status_code == 404


async def test_unknown_resources_are_404_only_for_authorized_roles(client: httpx.AsyncClient) -> None:
    assert (await client.get("/complaints/nope", headers=bearer(token("lobby_manager")))).status_code == 404
    assert (await client.get("/complaints/nope", headers=bearer(token("admin")))).status_code == 403


def test_every_route_of_the_app_is_enumerated_with_its_action() -> None:
    app = build_app()
    assert unguarded_routes(app) == []
    actions = {(r.method, r.path): r.action for r in route_actions(app) if not r.public}
    assert actions == {
        ("GET", "/branches/{branch_id}/complaints"): "complaint.read",
        ("POST", "/branches/{branch_id}/complaints"): "complaint.create",
        ("POST", "/complaints/{complaint_id}/escalate"): "complaint.escalate",
        ("POST", "/complaints/{complaint_id}/classify"): "complaint.classify",
        ("GET", "/complaints/{complaint_id}"): "complaint.read",
        ("GET", "/leaky/{complaint_id}"): "complaint.read",
        ("GET", "/hq/branches/{branch_id}"): "hq.read",
        ("DELETE", "/customers/{ref}/pii"): "pii.erase",
        ("GET", "/catalogue"): "reception.catalogue.read",
        ("GET", "/branches/{branch_id}/lobby"): "reception.lobby.read",
    }


async def test_requires_on_checks_the_resource_branch_before_the_body(client: httpx.AsyncClient) -> None:
    """Staff of another branch get 403 whatever they send (no 422 telling them about the body);
    staff of the branch get the usual validation; an unknown id is the route's 404."""
    lobby = bearer(token("lobby_manager"))
    for body in ({}, {"category": "fees"}, {"category": 7, "extra": True}):
        assert (
            await client.post("/complaints/c-other/classify", json=body, headers=lobby)
        ).status_code == 403
    assert (await client.post("/complaints/c-own/classify", json={}, headers=lobby)).status_code == 422
    done = await client.post("/complaints/c-own/classify", json={"category": "fees"}, headers=lobby)
    assert done.status_code == 200 and done.json()["by"] == "lobby_manager-7"
    missing = await client.post("/complaints/nope/classify", json={"category": "fees"}, headers=lobby)
    assert missing.status_code == 404
    counter = bearer(token("counter_staff"))  # the role comes first, whatever the branch
    assert (await client.post("/complaints/c-own/classify", json={}, headers=counter)).status_code == 403
