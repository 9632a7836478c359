"""The shared command-route mechanism (``shared.command_routes``), on a toy stream kept in memory:
the token and the action's permission, the stream's branch checked before anything is decided,
``If-Match`` or the body's ``expected_version`` handed to the handler, the ``ETag``, an optional
body's defaults, the texts batch and the command built by keyword from the body."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import httpx
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel

from shared.auth import AuthConfig, install_auth
from shared.command_routes import (
    CommandBody,
    CommandCall,
    CommandRoutes,
    Given,
    Ran,
    by_keyword,
)
from shared.contracts.text import TextRef
from shared.decider import DomainError
from shared.http import install_error_handlers
from shared.texts import TextBatch
from tests.support.auth import bearer, secret

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Escalate:
    at: datetime
    reason: TextRef | None
    by: str


class EscalateBody(CommandBody):
    reason: str = ""


class CaseView(BaseModel):
    case_id: UUID
    version: int
    last: str


@dataclass
class Store:
    """The toy service: cases with a branch and a version; what each command received."""

    branches: dict[UUID, str] = field(default_factory=dict)
    versions: dict[UUID, int] = field(default_factory=dict)
    calls: list[CommandCall] = field(default_factory=list)

    context = "complaint"  # what a TextBatch asks of its store


STORE = Store()


def app_dependency() -> Store:
    return STORE


async def branch_of(case_id: UUID) -> str | None:
    return STORE.branches.get(case_id)


async def run(store: Store, call: CommandCall) -> Ran:
    branch = store.branches[call.resource_id]
    call.staff.check_branch(branch)
    current = store.versions[call.resource_id]
    if call.expected_version is not None and call.expected_version != current:
        raise DomainError(f"stale: the case is at version {current}")
    store.calls.append(call)
    store.versions[call.resource_id] = current + 1
    view = CaseView(case_id=call.resource_id, version=current + 1, last=type(call.command).__name__)
    return Ran(view=view, version=current + 1)


def build() -> FastAPI:
    router = APIRouter()
    commands: CommandRoutes[Store] = CommandRoutes(
        router,
        resource="case_id",
        app=app_dependency,
        branch_of=branch_of,
        run=run,
        view=CaseView,
        now=lambda store: NOW,
        text_batch=lambda store: TextBatch(store),  # type: ignore[arg-type]
    )

    def escalate(body: EscalateBody, g: Given) -> Escalate:
        return Escalate(at=g.now, reason=g.texts.add(body.reason), by=g.actor)

    commands.post(
        "/cases/{case_id}/escalate",
        "complaint.escalate",
        EscalateBody,
        escalate,
        name="escalate",
        body_required=False,
        doc="Hand the case up one level.",
    )
    commands.post(
        "/cases/{case_id}/reopen",
        "complaint.reopen",
        None,
        lambda body, g: Escalate(at=g.now, reason=None, by=g.actor),
        name="reopen",
    )
    commands.post(
        "/cases/{case_id}/ticket",
        "reception.visit.queue",
        None,
        lambda body, g: "ticket",
        name="ticket",
        keyed=True,
    )
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    install_auth(app, AuthConfig(secret().encode()))
    return app


def new_case(branch: str = "b001", version: int = 3) -> UUID:
    case_id = uuid4()
    STORE.branches[case_id], STORE.versions[case_id] = branch, version
    return case_id


def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=build()), base_url="http://t")


async def post(http: httpx.AsyncClient, case_id: UUID, body: Any = None, **headers: str) -> httpx.Response:
    auth = {**bearer("lobby-1", ["b001"]), **headers}
    return await http.post(f"/cases/{case_id}/escalate", json=body, headers=auth)


async def test_a_command_runs_with_the_version_read_and_answers_the_view_with_its_etag() -> None:
    case_id = new_case()
    async with client() as http:
        answer = await post(http, case_id, {"reason": "press involved"}, **{"If-Match": '"3"'})
    assert answer.status_code == 200, answer.text
    assert answer.headers["ETag"] == '"4"' and answer.json()["last"] == "Escalate"
    call = STORE.calls[-1]
    assert call.expected_version == 3 and call.meta.actor == "lobby-1"
    assert call.command == Escalate(at=NOW, reason=call.command.reason, by="lobby-1")
    assert call.command.reason is not None and len(call.texts) == 1  # the words go to the batch only


async def test_the_body_may_carry_the_version_and_may_be_left_out() -> None:
    case_id = new_case()
    async with client() as http:
        assert (await post(http, case_id, {"expected_version": 3})).status_code == 200
        assert (await post(http, case_id)).status_code == 200  # no body: its defaults, no version check
    assert STORE.calls[-1].command.reason is None and STORE.calls[-1].expected_version is None


async def test_stale_versions_bad_if_match_unknown_fields_and_other_branches_are_refused() -> None:
    case_id, elsewhere = new_case(), new_case(branch="b999")
    async with client() as http:
        assert (await post(http, case_id, {}, **{"If-Match": '"2"'})).status_code == 409
        assert (await post(http, case_id, {}, **{"If-Match": "three"})).status_code == 400
        assert (await post(http, case_id, {"reason": "x", "actor": "someone-else"})).status_code == 422
        assert (await post(http, elsewhere, {})).status_code == 403
        assert (await http.post(f"/cases/{case_id}/escalate", json={})).status_code == 401
    assert STORE.versions[case_id] == 3 and STORE.versions[elsewhere] == 3  # nothing ran


def test_openapi_describes_the_route_like_a_hand_written_one() -> None:
    op = build().openapi()["paths"]["/cases/{case_id}/escalate"]["post"]
    assert op["operationId"] == "escalate_cases__case_id__escalate_post"
    assert op["summary"] == "Escalate" and op["description"] == "Hand the case up one level."
    assert op["x-action"] == "complaint.escalate"
    assert not op["requestBody"].get("required", False)
    assert {p["name"] for p in op["parameters"]} == {"case_id", "if-match", "x-correlation-id"}


async def test_a_command_without_a_body_takes_none() -> None:
    case_id = new_case()
    async with client() as http:
        answer = await http.post(f"/cases/{case_id}/reopen", headers=bearer("lobby-1", ["b001"]))
    assert answer.status_code == 200, answer.text
    assert "requestBody" not in build().openapi()["paths"]["/cases/{case_id}/reopen"]["post"]


def test_a_keyed_step_takes_an_idempotency_key() -> None:
    op = build().openapi()["paths"]["/cases/{case_id}/ticket"]["post"]
    assert {p["name"] for p in op["parameters"]} == {
        "case_id",
        "if-match",
        "x-correlation-id",
        "Idempotency-Key",
    }


@dataclass(frozen=True)
class Assign:
    at: datetime
    handler: str
    staff_ids: tuple[str, ...]
    reason: TextRef
    note: TextRef | None = None
    by: str = ""
    urgent: bool = False


class AssignBody(CommandBody):
    handler: str
    staff_ids: list[str]
    reason: str
    note: str = ""
    unrelated: int = 0


def given() -> Given:
    return Given(now=NOW, texts=TextBatch(STORE), actor="lobby-1")  # type: ignore[arg-type]


def test_by_keyword_takes_the_fields_of_the_same_names_and_the_texts_through_the_batch() -> None:
    g = given()
    body = AssignBody(handler="head-1", staff_ids=["t-1", "t-2"], reason="press involved")
    command = by_keyword(Assign)(body, g)
    expected = Assign(at=NOW, handler="head-1", staff_ids=("t-1", "t-2"), reason=command.reason, by="lobby-1")
    assert command == expected
    assert isinstance(command.reason, TextRef) and command.note is None and len(g.texts) == 1


def test_by_keyword_takes_the_actor_from_the_token_and_fixed_values_and_functions() -> None:
    build = by_keyword(Assign, urgent=True, note=lambda body, g: g.texts.add(body.reason))
    command = build(AssignBody(handler="h", staff_ids=[], reason="r", note="ignored"), given())
    assert command.by == "lobby-1" and command.urgent and command.note is not None
