"""Command routes as data: one declaration per HTTP command on an event-sourced stream.

Every command route used to repeat the same fifteen lines: the token and the action's permission,
the stream's branch checked before anything is decided, ``If-Match`` (or the body's
``expected_version``) as the expected version, a batch for the command's free texts, the command
handler, the ``ETag`` and the view of the new state. :class:`CommandRoutes` owns those; a service
declares each route with what differs — its path, its action, its body model and how the body
becomes the command (a function building the command *by keyword*)::

    commands = CommandRoutes(router, resource="complaint_id", app=complaint_app,
                             branch_of=complaint_branch, run=run_command, view=ComplaintView,
                             now=lambda app: app.clock.now(), text_batch=lambda app: app.texts.batch())
    commands.post("/complaints/{complaint_id}/hold", "complaint.hold", HoldBody,
                  lambda body, given: Hold(at=given.now, reason=given.texts.require(body.reason),
                                           kind=body.kind),
                  name="hold", doc="Wait on the customer: the case's SLA clocks pause.")

Errors keep the shared mapping (``shared.http.install_error_handlers``): a refused command is a
409 with the decider's reason, a stale expected version a 409 with ``current_version``, an
unknown stream a 404, a bad ``If-Match`` a 400, a bad body a 422, a foreign branch a 403 before
anything is read. A stale version stays 409 rather than 412: every client (the console, the
tests) already treats it as "reload and decide again", like a refused step.

The OpenAPI document is the same as for a hand-written route: ``name`` is the former function's
name, so FastAPI derives the same summary and ``operationId``; ``doc`` is its description.
A step that creates something on an existing stream (a queue ticket, a complaint raised during a
visit) is declared ``keyed=True``: it takes an ``Idempotency-Key`` (``shared.idempotency``), the
``run`` callback claims it in the command's transaction (``claim_first``) and answers a retry
with ``Ran(replayed=...)``, which the route turns into the first status and the replay header.
Other commands on an existing stream are guarded by their expected version instead.

A command that *starts* a stream in a branch (``POST /branches/{branch_id}/visits``) is declared
with :meth:`CommandRoutes.create`: the branch's permission (``requires``), an optional
``Idempotency-Key`` scoped to the branch, 201 with the created view, its ``Location`` and ``ETag``;
a retry with the same key answers the first create (its status and the replay header).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar, get_args, get_type_hints
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from shared.audit import annotate
from shared.auth import Principal, requires, requires_on
from shared.auth.dependencies import Loading, actor_metadata, requires_loading
from shared.contracts.text import TextRef
from shared.envelope import Metadata
from shared.http import expected_version
from shared.idempotency import AlreadyCreated, Create, IdempotencyKey, replay
from shared.texts import TextBatch

AppT = TypeVar("AppT")

#: a branch id in a path (``/branches/{branch_id}/…``)
BranchPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_\-]{1,64}$")]


#: ``X-Correlation-Id``, a parameter of the route itself: the command's metadata
#: (``shared.auth.actor_metadata``) is made in the route from it and the ``staff`` principal, not by
#: a ``principal_metadata`` dependency of its own (FastAPI solves every dependency node on every
#: request, ~20 µs each). Declared last among the route's headers, where the dependency's header
#: came in the flattened parameters: the OpenAPI document is byte for byte the same.
_CORRELATION = inspect.Parameter(
    "x_correlation_id",
    inspect.Parameter.KEYWORD_ONLY,
    annotation=Annotated[str | None, Header()],
    default=None,
)


class CommandBody(BaseModel):
    """The base of a command's body: unknown fields are refused, and the version the client read
    may come in the body when it cannot send ``If-Match``."""

    model_config = ConfigDict(extra="forbid")

    #: the version the client read (alternative to ``If-Match``)
    expected_version: int | None = Field(default=None, ge=0)


@dataclass(frozen=True)
class Given:
    """What a command is built from besides its body: the server's time, the batch its free texts
    go into (``texts.add`` / ``texts.require`` give the refs events carry), the acting staff id
    (from the verified token, never from the body) and the service's app object (for a command
    its app builds, e.g. one that reads a deadline inside the transaction)."""

    now: datetime
    texts: TextBatch
    actor: str
    app: Any = None
    #: the request's metadata (for a command that records on a second stream, e.g. a counter)
    meta: Metadata | None = None


Build = Callable[[Any, Given], Any]


def by_keyword(command: type, **fixed: Any) -> Build:
    """Build ``command`` (a dataclass) by keyword from the body's fields of the same names.

    ``at`` is the server's time, ``by`` the acting staff id (from the token, never the body); a
    field the body has is taken from it — a free text (a ``TextRef`` field of the command) through
    the command's text batch (``require`` when the body must carry it, else ``add``), a list as a
    tuple; ``fixed`` gives the rest, a value or a function of ``(body, given)``. A field left to
    none of these keeps the command's default. The plan is made once, when the route is declared."""
    hints = get_type_hints(command)
    plan = [(f.name, fixed[f.name]) for f in dataclasses.fields(command) if f.name in fixed]
    body_fields = [f.name for f in dataclasses.fields(command) if f.name not in fixed]

    def build(body: Any, given: Given) -> Any:
        kwargs = {name: value(body, given) if callable(value) else value for name, value in plan}
        fields = type(body).model_fields if body is not None else {}
        for name in body_fields:
            if name == "at":
                kwargs[name] = given.now
            elif name == "by":
                kwargs[name] = given.actor
            elif name in fields:
                kwargs[name] = _from_body(getattr(body, name), hints[name], fields[name].is_required(), given)
        return command(**kwargs)

    return build


def _from_body(value: Any, hint: Any, required: bool, given: Given) -> Any:
    if hint is TextRef or TextRef in get_args(hint):
        return given.texts.require(value) if required else given.texts.add(value)
    return tuple(value) if isinstance(value, list) else value


@dataclass(frozen=True)
class CommandCall:
    """One command, ready for the service's handler."""

    resource_id: UUID
    command: Any
    expected_version: int | None
    staff: Principal
    meta: Metadata
    texts: TextBatch
    #: a keyed create's key (``keyed=True`` routes; else none)
    create: Create | None = None
    #: the stream as the route's branch check loaded it (``stream_of``; a ``shared.commands.Loaded``):
    #: the command starts from it (``preloaded``) instead of loading it again
    preloaded: Any = None


@dataclass(frozen=True)
class CreateCall:
    """A command starting a stream in a branch (:meth:`CommandRoutes.create`), ready for the
    service's handler; ``create`` carries the ``Idempotency-Key`` (or none) to claim."""

    branch_id: str
    command: Any
    staff: Principal
    meta: Metadata
    texts: TextBatch
    create: Create


@dataclass(frozen=True)
class Ran:
    """The view of the stream after the command, and its version (the ``ETag``)."""

    view: Any
    version: int
    #: the key's first request already did it: answer as a replay
    replayed: AlreadyCreated | None = None
    #: what a create started (its ``Location`` and the audit row's resource)
    resource_id: UUID | None = None


class ViewAnswer:
    """The route's answer, serialized here: the view a command route returns is already an instance
    of its ``response_model``, which FastAPI would validate again before serializing it (~40 µs of
    a command). The bytes, status and headers are what FastAPI makes of it: the view dumped by the
    same serializer (``by_alias``), the status the route set (a replay's) or declares, then the
    headers the route set on its ``response``. The model still documents the answer in OpenAPI."""

    def __init__(self, view: type[BaseModel]) -> None:
        self.view = view
        self.adapter: TypeAdapter[Any] = TypeAdapter(view)

    def __call__(self, shown: Any, response: Response, declared: int) -> Any:
        if type(shown) is not self.view:  # anything else: FastAPI validates it as declared
            return shown
        answer = Response(
            self.adapter.dump_json(shown, by_alias=True),
            status_code=response.status_code or declared,
            media_type="application/json",
        )
        answer.headers.raw.extend(response.headers.raw)
        return answer


class CommandRoutes(Generic[AppT]):
    """The command routes of one kind of stream (e.g. a complaint case)."""

    def __init__(
        self,
        router: APIRouter,
        *,
        resource: str,
        app: Callable[..., AppT] | Callable[..., Awaitable[AppT]],
        branch_of: Callable[..., Awaitable[str | None]],
        run: Callable[[AppT, CommandCall], Awaitable[Ran]],
        view: type[BaseModel],
        now: Callable[[AppT], datetime],
        text_batch: Callable[[AppT], TextBatch],
        if_match: str = 'The version you read, e.g. "3"',
        stream_of: Callable[..., Awaitable[Any]] | None = None,
        app_of_request: Callable[[Request], AppT] | None = None,
    ) -> None:
        """``if_match``: the ``If-Match`` header's description in OpenAPI. ``stream_of``: the
        dependency ``branch_of`` itself depends on to load the stream: a command route then takes
        the principal and the stream from one dependency node (``shared.auth.requires_loading``:
        the token, the role, the load, the stream's branch) instead of four, and the stream
        reaches ``run`` as :attr:`CommandCall.preloaded`. ``app_of_request``:
        the service's app object from the request, called in the route instead of solving ``app``
        as a dependency (a node fewer per request; the OpenAPI document is the same)."""
        self.router = router
        self.resource = resource
        self.app = app
        self.app_of_request = app_of_request
        self.branch_of = branch_of
        self.stream_of = stream_of
        self.run = run
        self.view = view
        self.now = now
        self.text_batch = text_batch
        self.if_match = Annotated[str | None, Header(description=if_match)]

    def post(
        self,
        path: str,
        action: str,
        body: type[BaseModel] | None,
        build: Build,
        *,
        name: str,
        doc: str | None = None,
        body_required: bool = True,
        keyed: bool = False,
    ) -> None:
        """Declare ``POST path`` performing ``action``: ``build(body, given)`` makes the command.

        ``body_required=False``: the body may be left out (its defaults are used); ``body=None``:
        the command takes no body at all (``build`` gets ``None``); ``keyed``: it takes an
        ``Idempotency-Key`` (a step that creates something)."""
        endpoint = self._endpoint(body, build)
        endpoint.__name__ = name
        endpoint.__doc__ = doc
        endpoint.__signature__ = self._signature(action, body, body_required, keyed)  # type: ignore[attr-defined]
        self.router.add_api_route(path, endpoint, methods=["POST"], response_model=self.view, name=name)

    def create(
        self,
        path: str,
        action: str,
        body: type[BaseModel],
        build: Build,
        *,
        run: Callable[[AppT, CreateCall], Awaitable[Ran]],
        view: type[BaseModel],
        location: str,
        name: str,
        doc: str | None = None,
        body_required: bool = True,
    ) -> None:
        """Declare ``POST path`` (with ``{branch_id}``) starting a stream in that branch:
        ``build(body, given)`` makes the command, ``run`` executes it (claiming ``call.create``)
        and answers ``Ran`` with ``resource_id``; the route answers 201 with ``view`` and
        ``Location: {location}/{resource_id}``."""

        answer = ViewAnswer(view)
        of_request = self.app_of_request

        async def endpoint(**kw: Any) -> Any:
            request: Request = kw["request"]
            app: AppT = kw["app"] if of_request is None else of_request(request)
            meta = actor_metadata(kw["staff"], kw["x_correlation_id"])
            response: Response = kw["response"]
            given = kw.get("body") or body()
            create = Create.of(request, kw["idempotency_key"], scope=kw["branch_id"], body=given)
            texts = self.text_batch(app)
            command = build(given, self._given(app, meta, texts))
            ran = await run(app, CreateCall(kw["branch_id"], command, kw["staff"], meta, texts, create))
            if ran.replayed is not None:
                replay(response, ran.replayed)
            annotate(request, resource_id=str(ran.resource_id))
            response.headers["ETag"] = f'"{ran.version}"'
            response.headers["Location"] = f"{location}/{ran.resource_id}"
            return answer(ran.view, response, 201)

        keyword = inspect.Parameter.KEYWORD_ONLY
        staff = Annotated[Principal, Depends(requires(action))]
        params = [
            inspect.Parameter("branch_id", keyword, annotation=BranchPath),
            *self._app_param(),
            inspect.Parameter("staff", keyword, annotation=staff),
            inspect.Parameter("request", keyword, annotation=Request),
            inspect.Parameter("response", keyword, annotation=Response),
            inspect.Parameter("idempotency_key", keyword, annotation=IdempotencyKey, default=None),
            _CORRELATION,
            inspect.Parameter("body", keyword, annotation=body)
            if body_required
            else inspect.Parameter("body", keyword, annotation=body | None, default=None),
        ]
        endpoint.__name__ = name
        endpoint.__doc__ = doc
        endpoint.__signature__ = inspect.Signature(params, return_annotation=view)  # type: ignore[attr-defined]
        self.router.add_api_route(
            path, endpoint, methods=["POST"], status_code=201, response_model=view, name=name
        )

    def _app_param(self) -> list[inspect.Parameter]:
        """The route's ``app`` dependency, unless the app comes from the request (``request``
        is then a parameter of every route)."""
        if self.app_of_request is not None:
            return []
        return [
            inspect.Parameter(
                "app", inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[Any, Depends(self.app)]
            )
        ]

    def _given(self, app: AppT, meta: Metadata, texts: TextBatch) -> Given:
        return Given(now=self.now(app), texts=texts, actor=meta.actor, app=app, meta=meta)

    def _endpoint(self, model: type[BaseModel] | None, build: Build) -> Callable[..., Awaitable[Any]]:
        resource = self.resource
        answer = ViewAnswer(self.view)
        of_request = self.app_of_request

        loading = self.stream_of is not None

        async def endpoint(**kw: Any) -> Any:
            app: AppT = kw["app"] if of_request is None else of_request(kw["request"])
            preloaded = None
            if loading:  # one node gave both (``requires_loading``)
                on: Loading = kw["staff"]
                staff, preloaded = on.staff, on.loaded
            else:
                staff = kw["staff"]
            meta = actor_metadata(staff, kw["x_correlation_id"])
            response: Response = kw["response"]
            body = kw.get("body")
            if body is None and model is not None:
                body = model()
            version = expected_version(kw["if_match"])
            if version is None:  # a body may carry it when the client cannot send If-Match
                version = getattr(body, "expected_version", None)
            texts = self.text_batch(app)
            command = build(body, self._given(app, meta, texts))
            create = None
            if "idempotency_key" in kw:
                create = Create.on_resource(kw["request"], kw["idempotency_key"], body=kw.get("body"))
            call = CommandCall(kw[resource], command, version, staff, meta, texts, create, preloaded)
            ran = await self.run(app, call)
            if ran.replayed is not None:
                replay(response, ran.replayed)
            response.headers["ETag"] = f'"{ran.version}"'
            return answer(ran.view, response, 200)

        return endpoint

    def _signature(
        self, action: str, model: type[BaseModel] | None, body_required: bool, keyed: bool
    ) -> inspect.Signature:
        keyword = inspect.Parameter.KEYWORD_ONLY
        staff: Any = Annotated[Principal, Depends(requires_on(action, self.branch_of))]
        if self.stream_of is not None:  # the principal and the stream from one node
            staff = Annotated[Loading, Depends(requires_loading(action, self.stream_of))]
        body: list[inspect.Parameter] = []
        if model is not None and body_required:
            body = [inspect.Parameter("body", keyword, annotation=model)]
        elif model is not None:
            body = [inspect.Parameter("body", keyword, annotation=model | None, default=None)]
        with_request = keyed or self.app_of_request is not None
        params = [
            inspect.Parameter(self.resource, keyword, annotation=UUID),
            *self._app_param(),
            inspect.Parameter("staff", keyword, annotation=staff),
            *([inspect.Parameter("request", keyword, annotation=Request)] if with_request else []),
            inspect.Parameter("response", keyword, annotation=Response),
            inspect.Parameter("if_match", keyword, annotation=self.if_match, default=None),
            *(
                [inspect.Parameter("idempotency_key", keyword, annotation=IdempotencyKey, default=None)]
                if keyed
                else []
            ),
            _CORRELATION,
            *body,
        ]
        return inspect.Signature(params, return_annotation=self.view)
