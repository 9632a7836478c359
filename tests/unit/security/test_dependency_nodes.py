"""The per-request shape of the shared HTTP layer (issue 19): FastAPI solves every node of a route's
dependency tree on every request (~20 µs each, cached or not), so the staff dependencies are one
node each — and still the ``StaffToken`` security scheme, so the OpenAPI document is unchanged —
the token is verified once per request, and the audit middleware binds the log correlation id."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI
from fastapi.dependencies.utils import get_dependant
from starlette.types import Receive, Scope, Send

from shared.audit.middleware import AuditMiddleware
from shared.auth import AuthConfig, Principal, install_auth, issue_token, principal_metadata, requires
from shared.auth.dependencies import Loading, requires_loading, requires_on
from shared.envelope import Metadata
from shared.logs import correlation_id_var

SECRET = secrets.token_urlsafe(48).encode()


async def _branch_of(complaint_id: str) -> str | None:
    return "b001"


def _nodes(call: Any) -> int:
    dependant = get_dependant(path="/x/{complaint_id}", call=call)
    return 1 + sum(_nodes_of(d) for d in dependant.dependencies)


def _nodes_of(dependant: Any) -> int:
    return 1 + sum(_nodes_of(d) for d in dependant.dependencies)


@dataclass(frozen=True)
class _Case:
    branch_id: str | None


LOADS: list[str] = []


async def _load(complaint_id: str) -> _Case:
    LOADS.append(complaint_id)
    return _Case("b001" if complaint_id != "missing" else None)


def test_each_staff_dependency_is_one_node() -> None:
    assert _nodes(requires("complaint.create")) == 1
    assert _nodes(principal_metadata) == 1
    assert _nodes(requires_on("complaint.escalate", _branch_of)) == 2  # itself and branch_of
    assert _nodes(requires_loading("complaint.escalate", _load)) == 1  # the load is in the node


def test_requires_loading_checks_the_token_before_loading_and_the_branch_after() -> None:
    app = FastAPI()

    @app.post("/x/{complaint_id}")
    async def step(
        complaint_id: str, on: Annotated[Loading, Depends(requires_loading("complaint.escalate", _load))]
    ) -> dict[str, str | None]:
        return {"staff": on.staff.staff_id, "branch": on.loaded.branch_id}

    install_auth(app, AuthConfig(secret=SECRET))
    mine = issue_token("s-1", ["lobby_manager"], ["b001"], timedelta(hours=1), SECRET)
    other = issue_token("s-2", ["lobby_manager"], ["b002"], timedelta(hours=1), SECRET)

    async def go() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return [
                (await client.post("/x/c1")).status_code,
                (await client.post("/x/c2", headers={"Authorization": f"Bearer {mine}"})).status_code,
                (await client.post("/x/c3", headers={"Authorization": f"Bearer {other}"})).status_code,
            ]

    LOADS.clear()
    assert asyncio.run(go()) == [401, 200, 403]
    assert LOADS == ["c2", "c3"]  # no load without a valid token
    assert app.openapi()["paths"]["/x/{complaint_id}"]["post"]["security"] == [{"StaffToken": []}]


def _app() -> FastAPI:
    app = FastAPI()

    @app.post("/branches/{branch_id}/complaints", status_code=201)
    async def receive(
        branch_id: str,
        staff: Annotated[Principal, Depends(requires("complaint.create"))],
        meta: Annotated[Metadata, Depends(principal_metadata)],
    ) -> dict[str, str]:
        return {"actor": meta.actor, "staff": staff.staff_id}

    install_auth(app, AuthConfig(secret=SECRET))
    return app


def test_openapi_documents_the_one_staff_scheme_and_the_correlation_header() -> None:
    schema = _app().openapi()
    operation = schema["paths"]["/branches/{branch_id}/complaints"]["post"]
    assert operation["security"] == [{"StaffToken": []}]
    assert [p["name"] for p in operation["parameters"]] == ["branch_id", "x-correlation-id"]
    assert schema["components"]["securitySchemes"]["StaffToken"]["scheme"] == "bearer"
    assert operation["x-action"] == "complaint.create"


def test_the_token_is_verified_once_per_request(monkeypatch: Any) -> None:
    from shared.auth import verified

    calls: list[str] = []
    real = verified.verify_token

    def counting(token: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(token)
        return real(token, *args, **kwargs)

    monkeypatch.setattr(verified, "verify_token", counting)
    app = _app()
    token = issue_token("s-1", ["counter_staff"], ["b001"], timedelta(hours=1), SECRET)

    async def go() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            headers = {"Authorization": f"Bearer {token}"}
            first = await client.post("/branches/b001/complaints", headers=headers)
            bad = await client.post("/branches/b001/complaints", headers={"Authorization": "Basic x"})
            other = await client.post("/branches/b002/complaints", headers=headers)
            return [first.status_code, bad.status_code, other.status_code]

    assert asyncio.run(go()) == [201, 401, 403]
    assert calls == [token]  # verified once, then remembered (shared.auth.verified)


def test_the_audit_middleware_binds_the_log_correlation_id() -> None:
    seen: list[str] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(correlation_id_var.get())
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    middleware = AuditMiddleware(inner, service="t")

    async def call(headers: list[tuple[bytes, bytes]]) -> None:
        async def receive() -> Any:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Any) -> None:
            return None

        scope = {"type": "http", "method": "GET", "path": "/x", "headers": headers, "state": {}}
        await middleware(scope, receive, send)

    given = "6f1c1f3e-2b7a-4c39-9a53-0d2b1f0c8e11"
    asyncio.run(call([(b"x-correlation-id", given.encode())]))
    asyncio.run(call([(b"x-correlation-id", b"not-a-uuid")]))
    asyncio.run(call([]))
    assert seen[0] == given and seen[1] == "not-a-uuid"
    assert len(seen[2]) == 36  # the one it assigned
    assert correlation_id_var.get() == ""  # unbound after the request
