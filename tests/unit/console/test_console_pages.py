"""The console as a BFF, without the services: what it calls, with which identity, and how a page
degrades. The services are replaced by an httpx transport that records every call (the real
services are exercised by the browser tests in tests/e2e/)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import httpx
import pytest

from services.console.app import create_app
from services.console.settings import ConsoleSettings
from shared.auth import AuthConfig, issue_token

SECRET = "unit-test-secret-for-the-console-0123456789"
URLS = {name: f"http://{name}.test" for name in ("reception", "complaint", "followup", "feedback", "hq")}

Handler = Callable[[httpx.Request], httpx.Response]


def token(staff: str, roles: list[str], branches: list[str]) -> str:
    return issue_token(staff, roles, branches, timedelta(hours=1), SECRET)


LOBBY = {
    "branch_id": "b1",
    "at": "2026-03-02T01:00:00Z",
    "waiting": [
        {"visit_id": "v1", "ticket": "A001", "line": "deposits", "status": "queued", "priority": None,
         "accessibility": [], "waited_seconds": 1000, "sla": "at_risk", "counter_id": None},
    ],
    "counters": [{"counter_id": "C1", "status": "free", "ticket": None}],
    "lines": [{"line": "deposits", "label": "Deposits", "prefix": "A", "waiting": 1, "called": 0,
               "longest_wait_seconds": 1000, "at_risk": 1, "breached": 0, "estimated_wait_seconds": 300}],
}  # fmt: skip


class Services:
    """Stands in for the five services; ``calls`` is every request the console made."""

    def __init__(self) -> None:
        self.calls: list[httpx.Request] = []
        self.routes: dict[tuple[str, str], Handler] = {}
        self.down: set[str] = set()

    def on(self, method: str, url: str, handler: Handler) -> None:
        self.routes[(method, url)] = handler

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        if request.url.host.split(".")[0] in self.down:
            raise httpx.ConnectError("connection refused", request=request)
        handler = self.routes.get(
            (request.method, f"{request.url.scheme}://{request.url.host}{request.url.path}")
        )
        if handler is None:
            return httpx.Response(404, json={"detail": "Not Found"})  # FastAPI's unknown route
        return handler(request)


@pytest.fixture
async def console() -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
    services = Services()
    settings = ConsoleSettings(service_urls=URLS)
    app = create_app(settings, AuthConfig(SECRET.encode()), transport=httpx.MockTransport(services))
    async with app.router.lifespan_context(app):
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console.test")
        async with client:
            yield client, services


def signed_in(client: httpx.AsyncClient, jwt: str) -> httpx.AsyncClient:
    client.cookies.set("bc_session", jwt)
    return client


async def test_without_a_session_a_page_sends_you_to_sign_in(
    console: tuple[httpx.AsyncClient, Services],
) -> None:
    client, services = console
    response = await client.get("/b/b1/lobby")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=/b/b1/lobby")
    assert services.calls == []


async def test_sign_in_verifies_the_token_and_sets_a_strict_http_only_cookie(
    console: tuple[httpx.AsyncClient, Services],
) -> None:
    client, _ = console
    refused = await client.post("/login", data={"token": "not-a-jwt"})
    assert refused.status_code == 401 and "bc_session" not in refused.headers.get("set-cookie", "")
    forged = token("lm-1", ["lobby_manager"], ["b1"])[:-3] + "abc"
    assert (await client.post("/login", data={"token": forged})).status_code == 401
    ok = await client.post("/login", data={"token": token("lm-1", ["lobby_manager"], ["b1"])})
    assert ok.status_code == 303 and ok.headers["location"] == "/b/b1/lobby"
    cookie = ok.headers["set-cookie"].lower()
    assert "bc_session=" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    hq = await client.post(
        "/login", data={"token": token("hq-1", ["hq_analyst"], ["*"]), "next": "//evil.test/x"}
    )
    assert hq.headers["location"] == "/hq"  # an outside "next" is ignored


async def test_another_branch_is_refused_before_any_service_is_called(
    console: tuple[httpx.AsyncClient, Services],
) -> None:
    client, services = console
    signed_in(client, token("lm-2", ["lobby_manager"], ["b2"]))
    for path in (
        "/b/b1/lobby",
        "/b/b1/desk",
        "/b/b1/complaints",
        "/b/b1/follow-ups",
        "/b/b1/satisfaction",
        "/hq",
    ):
        response = await client.get(path)
        assert response.status_code == 403, path
    response = await client.post("/b/b1/complaints", data={"channel": "web"})
    assert response.status_code == 403
    assert "b1" in (await client.get("/b/b1/lobby")).text
    assert services.calls == []  # no back door: nothing reached a service


async def test_hq_reads_a_branch_but_does_not_act_in_it(console: tuple[httpx.AsyncClient, Services]) -> None:
    client, services = console
    services.on("GET", "http://reception.test/branches/b1/lobby", lambda r: httpx.Response(200, json=LOBBY))
    signed_in(client, token("hq-1", ["hq_analyst"], ["*"]))
    assert (await client.get("/b/b1/lobby")).status_code == 200
    assert (await client.get("/b/b1/desk")).status_code == 403
    page = await client.get("/b/b1/lobby")
    assert 'href="/b/b1/desk"' not in page.text and 'href="/hq"' in page.text


async def test_calls_carry_the_signed_in_token_and_nothing_the_browser_sent(
    console: tuple[httpx.AsyncClient, Services],
) -> None:
    client, services = console
    services.on("GET", "http://reception.test/branches/b1/lobby", lambda r: httpx.Response(200, json=LOBBY))
    jwt = token("lm-1", ["lobby_manager"], ["b1"])
    signed_in(client, jwt)
    page = await client.get("/b/b1/lobby", headers={"X-Staff-Id": "somebody-else"})
    assert page.status_code == 200 and "A001" in page.text and "sla-at_risk" in page.text
    (call,) = services.calls
    assert call.headers["authorization"] == f"Bearer {jwt}"
    assert "x-staff-id" not in call.headers  # the services take the actor from the token alone


async def test_a_service_that_is_down_or_not_built_yet_is_named_on_the_page(
    console: tuple[httpx.AsyncClient, Services],
) -> None:
    client, services = console
    signed_in(client, token("lm-1", ["lobby_manager"], ["b1"]))
    services.down.add("reception")
    page = await client.get("/b/b1/lobby")
    assert page.status_code == 200 and "http://reception.test" in page.text and "banner warn" in page.text

    services.on(
        "GET",
        "http://feedback.test/branches/b1/satisfaction",
        lambda r: httpx.Response(200, json={"target": 0.95, "overall": {}, "by_day": []}),
    )
    page = await client.get("/b/b1/satisfaction")
    assert page.status_code == 200
    assert "GET /branches/b1/surveys" in page.text  # the comments list is not built yet: said so


async def test_a_stale_edit_shows_the_colleague_conflict(console: tuple[httpx.AsyncClient, Services]) -> None:
    client, services = console
    case = {
        "complaint_id": "00000000-0000-4000-8000-000000000001", "branch_id": "b1", "status": "implemented",
        "on_hold": False, "level": "lobby_manager", "cycle": 1, "channel": "web", "customer_ref": "cust_0001",
        "description": "x", "solutions": [], "deadlines": [], "history": [], "version": 7,
        "regulatory_limit_days": 15, "classification": None, "closed_at": None, "received_at": None,
    }  # fmt: skip
    url = f"http://complaint.test/complaints/{case['complaint_id']}"
    services.on("GET", url, lambda r: httpx.Response(200, json=case))
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(409, json={"detail": "expected version 6, stream at 7", "current_version": 7})

    services.on("POST", f"{url}/answer", answer)
    signed_in(client, token("lm-1", ["lobby_manager"], ["b1"]))
    page = await client.post(
        f"/b/b1/complaints/{case['complaint_id']}/answer", data={"version": "6", "answer": "sorry"}
    )
    assert page.status_code == 409
    assert "banner error conflict" in page.text
    assert sent[0].headers["if-match"] == '"6"'
    assert json.loads(sent[0].content) == {"answer": "sorry", "outcome": ""}


async def test_the_report_csv_is_passed_through_as_a_download(
    console: tuple[httpx.AsyncClient, Services],
) -> None:
    client, services = console
    csv_text = "category,nature,channel,received\nALL,ALL,ALL,3\n"
    services.on(
        "GET",
        "http://hq.test/hq/reports/complaints",
        lambda r: httpx.Response(
            200,
            text=csv_text,
            headers={"content-type": "text/csv; charset=utf-8",
                     "content-disposition": 'attachment; filename="complaints_2026-03-01_2026-03-02.csv"'},
        ),
    )  # fmt: skip
    signed_in(client, token("hq-1", ["hq_analyst"], ["*"]))
    response = await client.get(
        "/hq/reports/complaints.csv", params={"from": "2026-03-01", "to": "2026-03-02"}
    )
    assert response.status_code == 200 and response.text == csv_text
    assert response.headers["content-disposition"].startswith("attachment")
    assert services.calls[0].url.params["format"] == "csv"
    signed_in(client, token("lm-1", ["lobby_manager"], ["b1"]))
    assert (await client.get("/hq/reports/complaints.csv")).status_code == 403


async def test_the_language_switch_remembers_and_returns(console: tuple[httpx.AsyncClient, Services]) -> None:
    client, _ = console
    response = await client.get("/lang", params={"to": "en", "next": "/b/b1/lobby"})
    assert response.status_code == 303 and response.headers["location"] == "/b/b1/lobby"
    assert "bc_lang=en" in response.headers["set-cookie"]
    assert (await client.get("/lang", params={"to": "en", "next": "//evil.test"})).headers["location"] == "/"
    login = await client.get("/login")
    assert "Staff sign-in" in login.text
    assert (
        "Content-Security-Policy" in login.headers
        and "script-src 'self'" in login.headers["content-security-policy"]
    )


async def test_the_event_catalogue_is_linked_from_every_page_and_readable_without_signing_in(
    console: tuple[httpx.AsyncClient, Services],
) -> None:
    client, _ = console
    login = await client.get("/login")
    assert 'href="/help/events"' in login.text  # the footer, on every page
    page = await client.get("/help/events", params={"lang": "en"})
    assert page.status_code == 200 and "Event catalogue" in page.text
    assert 'data-event="ComplaintReceived"' in page.text
    assert "http://complaint.test/asyncapi.json" in page.text
    spec = (await client.get("/asyncapi.json")).json()
    assert spec["asyncapi"] == "3.0.0" and "complaint.events.v1" in spec["channels"]
