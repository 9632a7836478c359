"""``CommandRoutes.create``: a command that starts a stream in a branch, declared in one line — the
branch's permission, 201 with the created view, its ``Location`` and ``ETag``, an optional
``Idempotency-Key`` (a retry answers the first create as a replay), the command built by keyword."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from uuid import UUID, uuid4

import httpx
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel

from shared.auth import AuthConfig, install_auth
from shared.clock import FixedClock
from shared.command_routes import CommandCall, CommandRoutes, CreateCall, Ran
from shared.http import install_error_handlers
from shared.idempotency import REPLAYED_HEADER, AlreadyCreated
from shared.texts import TextBatch
from tests.support.auth import bearer, secret

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Open:
    at: datetime
    title: str
    by: str


class OpenBody(BaseModel):
    title: str = "untitled"


class Created(BaseModel):
    case_id: UUID
    version: int


class Store:
    context = "complaint"  # what a TextBatch asks of its store

    def __init__(self) -> None:
        self.created: list[CreateCall] = []


STORE = Store()
FIRST = uuid4()


async def create(store: Store, call: CreateCall) -> Ran:
    """The toy handler: the title "again" plays a retry whose key was claimed before."""
    call.staff.check_branch(call.branch_id)
    store.created.append(call)
    if call.command.title == "again":
        return Ran(
            view=Created(case_id=FIRST, version=1),
            version=1,
            replayed=AlreadyCreated(str(FIRST), 201),
            resource_id=FIRST,
        )
    new = uuid4()
    return Ran(view=Created(case_id=new, version=1), version=1, resource_id=new)


async def no_step(store: Store, call: CommandCall) -> Ran:
    raise AssertionError("no step is declared")


def build() -> FastAPI:
    router = APIRouter()
    commands: CommandRoutes[Store] = CommandRoutes(
        router,
        resource="case_id",
        app=lambda: STORE,
        branch_of=lambda case_id: None,
        run=no_step,
        view=Created,
        now=lambda store: NOW,
        text_batch=lambda store: TextBatch(store),  # type: ignore[arg-type]
    )
    commands.create(
        "/branches/{branch_id}/cases",
        "complaint.create",
        OpenBody,
        lambda body, g: Open(at=g.now, title=body.title, by=g.actor),
        run=create,
        view=Created,
        location="/cases",
        name="open_case",
        body_required=False,
        doc="Open a case.",
    )
    app = FastAPI()
    app.state.ctx = SimpleNamespace(name="toy", settings=SimpleNamespace(), clock=FixedClock(NOW))
    install_error_handlers(app)
    app.include_router(router)
    install_auth(app, AuthConfig(secret().encode()))
    return app


async def post(body: dict[str, str] | None, branch: str = "b001") -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=build()), base_url="http://t") as http:
        return await http.post(f"/branches/{branch}/cases", json=body, headers=bearer("lobby-1", ["b001"]))


async def test_a_create_answers_201_with_its_location_and_etag() -> None:
    answer = await post({"title": "queue too long"})
    assert answer.status_code == 201, answer.text
    case_id = answer.json()["case_id"]
    assert answer.headers["Location"] == f"/cases/{case_id}" and answer.headers["ETag"] == '"1"'
    call = STORE.created[-1]
    assert call.branch_id == "b001" and call.command == Open(at=NOW, title="queue too long", by="lobby-1")
    assert not call.create.keyed


async def test_the_body_may_be_left_out_and_another_branch_is_refused() -> None:
    assert (await post(None)).status_code == 201
    assert STORE.created[-1].command.title == "untitled"
    assert (await post({}, branch="b999")).status_code == 403


async def test_a_retry_answers_the_first_create_as_a_replay() -> None:
    answer = await post({"title": "again"})
    assert answer.status_code == 201 and answer.headers[REPLAYED_HEADER] == "true"
    assert answer.json()["case_id"] == str(FIRST) and answer.headers["Location"] == f"/cases/{FIRST}"


def test_openapi_describes_the_create_like_a_hand_written_route() -> None:
    op = build().openapi()["paths"]["/branches/{branch_id}/cases"]["post"]
    assert op["operationId"] == "open_case_branches__branch_id__cases_post"
    assert op["summary"] == "Open Case" and op["description"] == "Open a case."
    assert op["x-action"] == "complaint.create" and "201" in op["responses"]
    assert {p["name"] for p in op["parameters"]} == {"branch_id", "x-correlation-id", "Idempotency-Key"}
