"""Issue 7's matrix, over real HTTP against the real service apps: every route of reception,
complaint, follow-up, feedback and HQ (enumerated from the app with ``route_actions``) × every
role × {own branch, other branch}, on a resource of branch A.

- The permission table says no (``is_allowed`` false) → 403 with only a reason in the body (no
  counts, no ids of the other branch), and a refused command changes nothing.
- It says yes → neither 401 nor 403, and never a 5xx (a route that forgot its branch check is a
  500 by the fail-closed guard, so that is caught too). A 4xx from the empty ``{}`` body is fine.

Principals: branch roles hold a token for branch A ("own") or branch B ("other"); HQ roles an
HQ-wide token ("own") or a regional token naming only branch B ("other"). Plus: expired,
tampered, wrong-key and missing tokens → 401 on routes of every service, and the internal
contact route takes service tokens only.
"""

from __future__ import annotations

import base64
import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from shared.auth import (
    ACTIONS,
    BRANCH_ROLES,
    HQ_ROLES,
    ROLES,
    Principal,
    is_allowed,
    issue_token,
    route_actions,
)
from shared.auth.routes import RouteAction
from shared.service_identity import SERVICE_ACTIONS, issue_service_token, service_key
from tests.integration.security.seeds import (
    SERVICES,
    broker_for,
    fingerprint,
    quiet_background,
    seeded,
)
from tests.integration.security.vault_steps import fake_people
from tests.support.auth import bearer, secret, staff_token
from tests.support.harness import Running

pytestmark = pytest.mark.integration

SIDES = ("own", "other")


def principal_for(role: str, side: str, svc: Running) -> tuple[Principal, str]:
    """The principal and its token: branch roles in A or B; HQ roles HQ-wide or regional (B)."""
    if role in HQ_ROLES and side == "own":
        branches = frozenset({"*"})
    else:
        branches = frozenset({svc.params["branch_id"] if side == "own" else svc.params["other_branch_id"]})
    staff_id = f"{role}-{side}"
    principal = Principal(staff_id, frozenset({role}), branches)
    return principal, staff_token(staff_id, [role], sorted(branches))


def staff_routes(svc: Running) -> list[RouteAction]:
    routes = [r for r in route_actions(svc.asgi) if not r.public and r.method != "HEAD"]
    assert routes and all(r.action for r in routes), [r for r in routes if not r.action]
    return routes


def refusal_leaks(svc: Running, body: Any) -> list[str]:
    """What a 403 body says beyond its reason (it must say nothing about the branch's data)."""
    problems = []
    if not isinstance(body, dict) or set(body) != {"detail"} or not isinstance(body["detail"], str):
        problems.append(f"body is not just a reason: {body!r}")
    text = json.dumps(body)
    problems += [
        f"names {name}"
        for name, value in svc.params.items()
        if not name.endswith("branch_id") and value in text
    ]
    return problems


@pytest.mark.parametrize("name", SERVICES)
async def test_every_route_every_role_own_and_other_branch_and_bad_tokens(
    name: str,
    database_url: str,
    kafka: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    quiet_background(monkeypatch)
    failures: list[str] = []
    checked = 0
    async with (
        broker_for(name, kafka.bootstrap_servers) as bootstrap,
        seeded(name, database_url, bootstrap) as svc,
    ):
        routes = staff_routes(svc)
        for route in routes:
            path = svc.path(route.path)
            body = None if route.method in ("GET", "DELETE") else {}
            if route.action in SERVICE_ACTIONS:  # internal: a staff token is never an identity here
                for role in sorted(ROLES):
                    for side in SIDES:
                        _, token = principal_for(role, side, svc)
                        headers = {"Authorization": f"Bearer {token}"}
                        response = await svc.http.request(route.method, path, json=body, headers=headers)
                        checked += 1
                        if response.status_code != 401:
                            failures.append(
                                f"{route.method} {route.path} {role}/{side}: {response.status_code}"
                            )
                continue
            assert route.action in ACTIONS, route
            for role in sorted(ROLES):
                for side in SIDES:
                    principal, token = principal_for(role, side, svc)
                    allowed = is_allowed(principal, route.action, svc.params["branch_id"])
                    headers = {"Authorization": f"Bearer {token}"}
                    before = await fingerprint(svc) if not allowed and body is not None else None
                    response = await svc.http.request(route.method, path, json=body, headers=headers)
                    checked += 1
                    status = response.status_code
                    where = f"{route.method} {route.path} [{route.action}] {role}/{side}"
                    if not allowed:
                        if status != 403:
                            failures.append(f"{where}: expected 403, got {status} {response.text[:200]}")
                            continue
                        failures += [f"{where}: 403 {p}" for p in refusal_leaks(svc, response.json())]
                        if before is not None and await fingerprint(svc) != before:
                            failures.append(f"{where}: refused, but something changed")
                    elif status in (401, 403) or status >= 500:
                        failures.append(f"{where}: allowed, got {status} {response.text[:200]}")
        assert not failures, f"{len(failures)} of {checked} checks failed:\n" + "\n".join(failures)
        assert checked >= 10 * len(routes)
        await bad_tokens_are_401(svc)
        if name == "reception":
            await internal_route_takes_service_tokens_only(svc)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def bad_tokens(branch: str) -> dict[str, str | None]:
    now = int(datetime.now(UTC).timestamp())
    claims = {"sub": "lm-1", "roles": list(BRANCH_ROLES), "branches": [branch]}
    good = staff_token("lm-1", sorted(BRANCH_ROLES), [branch])
    header, _, signature = good.split(".")
    forged = {**claims, "branches": ["*"], "roles": ["hq_analyst", "admin"], "iat": now, "exp": now + 600}
    return {
        "expired": jwt.encode({**claims, "iat": now - 7200, "exp": now - 3600}, secret(), algorithm="HS256"),
        "tampered": f"{header}.{_b64(forged)}.{signature}",
        "wrong key": issue_token(
            "lm-1", BRANCH_ROLES, [branch], timedelta(hours=1), secrets.token_urlsafe(48)
        ),
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64({**claims, 'iat': now, 'exp': now + 60})}.",
        "no token": None,
    }


async def bad_tokens_are_401(svc: Running) -> None:
    """A few routes of the service (reads, commands, one by id): every bad token is a 401 that
    says why, never a 403 or an answer, and nothing changes."""
    routes = [r for r in staff_routes(svc) if r.action in ACTIONS]
    reads = [r for r in routes if r.method == "GET"]
    commands = [r for r in routes if r.method != "GET"]
    by_id = [r for r in routes if "{branch_id}" not in r.path and "{" in r.path]
    chosen = {(r.method, r.path): r for r in (reads[:2] + commands[:2] + by_id[:1])}.values()
    before = await fingerprint(svc)
    for route in chosen:
        for case, token in bad_tokens(svc.params["branch_id"]).items():
            headers = {} if token is None else {"Authorization": f"Bearer {token}"}
            body = None if route.method in ("GET", "DELETE") else {}
            response = await svc.http.request(route.method, svc.path(route.path), json=body, headers=headers)
            assert response.status_code == 401, (route.path, case, response.text)
            assert response.headers["www-authenticate"].startswith("Bearer"), (route.path, case)
            assert secret() not in response.text
    assert await fingerprint(svc) == before


async def internal_route_takes_service_tokens_only(svc: Running) -> None:
    """Staff tokens got 401 in the matrix; the feedback service's token resolves, another's is 403."""
    (person,) = fake_people(1)  # the matrix's admin erased the seeded customer
    registered = await svc.http.post(
        f"/branches/{svc.params['branch_id']}/customers",
        json=person.body(),
        headers=bearer("cs-1", [svc.params["branch_id"]]),
    )
    assert registered.status_code == 201, registered.text
    ref = registered.json()["customer_ref"]
    body = {"customer_ref": ref, "purpose": "survey_sms", "branch_id": svc.params["branch_id"]}
    for service, expected in (("feedback", 200), ("hq", 403)):
        token = issue_service_token(service, service_key(secret()))
        headers = {"Authorization": f"Bearer {token}"}
        response = await svc.http.post("/internal/contacts/resolve", json=body, headers=headers)
        assert response.status_code == expected, (service, response.text)
