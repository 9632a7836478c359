"""Counter routes: open, pause (with a reason), resume, close, and a counter's state.

``POST /branches/{b}/counters/{c}/open | pause | resume | close`` answer the counter's state
(``ETag`` = its version); 409 when the step is not allowed now (already open, busy with a
customer, not paused …), 422 for bad input. The acting member of staff comes from the token; the
body may name the teller at the counter (``staff_id``), as for ``call``.

Each step is one declaration (:class:`CounterRoutes`): its path, its command and its body. The
command is built by keyword (``counter.py``'s commands): the counter, the teller, the server's
time, the body's fields of the same names, the start of the branch's day and the ticket of the
customer at the counter (read and locked in the command's transaction). A counter is not a visit
stream: its branch is in the path, so the branch's permission is checked from it (``requires``).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.reception import counter as k
from services.reception.app import Reception
from services.reception.deps import App, BranchId, reception
from shared.auth import Principal, requires
from shared.contracts.common import StaffId
from shared.contracts.reception import CounterId, CounterPauseReason, LineName
from shared.envelope import Metadata
from shared.http import command_metadata

router = APIRouter(tags=["reception: counters"])

Counter = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.\-]+$")]
Manage = Annotated[Principal, Depends(requires("reception.counter.manage"))]
COUNTER = "/branches/{branch_id}/counters/{counter_id}"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StaffBody(_Body):
    #: the teller at the counter; defaults to the acting member of staff
    staff_id: StaffId | None = None


class OpenBody(StaffBody):
    #: the lines the counter serves; empty = every line
    lines: list[LineName] = Field(default_factory=list, max_length=16)

    @field_validator("lines")
    @classmethod
    def _distinct(cls, lines: list[LineName]) -> list[LineName]:
        return list(dict.fromkeys(lines))

    def check(self, app: Reception) -> None:
        """Only the catalogue's lines (422 naming the unknown ones)."""
        unknown = [line for line in self.lines if line not in app.catalogue.lines]
        if unknown:
            msg = f"no line {', '.join(unknown)} (lines: {', '.join(app.catalogue.lines)})"
            raise RequestValidationError([{"loc": ("body", "lines"), "msg": msg, "type": "value_error"}])


class PauseBody(_Body):
    reason: CounterPauseReason
    staff_id: StaffId | None = None


#: a counter step's body: every one may name the teller at the counter (``staff_id``)
CounterBody = StaffBody | PauseBody


class CounterView(BaseModel):
    branch_id: str
    counter_id: CounterId
    #: open, paused or closed (a counter nobody opened yet is closed)
    status: str
    staff_id: str | None
    lines: list[str]
    pause_reason: str | None
    since: datetime | None
    version: int

    @classmethod
    def of(cls, branch_id: str, counter_id: str, state: k.Counter, version: int) -> CounterView:
        said = {name: getattr(state, name) for name in ("staff_id", "pause_reason", "since")}
        return cls(
            branch_id=branch_id,
            counter_id=counter_id,
            status=state.status.value,
            lines=list(state.lines),
            version=version,
            **said,
        )


def _command(
    command: type[k.AtCounter],
    app: Reception,
    place: tuple[str, str],
    body: CounterBody,
    meta: Metadata,
) -> Callable[[str | None], k.CounterCommand]:
    """How ``command`` is built, by keyword, once the ticket at the counter (``busy_with``) is known."""
    (branch_id, counter_id), now = place, app.now()
    names = {f.name for f in dataclasses.fields(command)}
    given: dict[str, Any] = {"counter_id": counter_id, "staff_id": body.staff_id or meta.actor, "at": now}
    given |= {name: getattr(body, name) for name in type(body).model_fields if name in names - given.keys()}
    given = {name: tuple(value) if isinstance(value, list) else value for name, value in given.items()}
    if "day_start" in names:
        given["day_start"] = app.counters.day_start(branch_id, now)
    make: Callable[..., k.CounterCommand] = command  # type: ignore[assignment]
    if "busy_with" in names:
        return lambda busy: make(**given, busy_with=busy)
    return lambda busy: make(**given)


class CounterRoutes:
    """The step routes of a branch's counters: one declaration each."""

    def __init__(self, router: APIRouter) -> None:
        self.router = router

    def post(
        self,
        step: str,
        command: type[k.AtCounter],
        model: type[CounterBody],
        *,
        name: str,
        doc: str | None = None,
        body_required: bool = False,
    ) -> None:
        """``POST {COUNTER}/{step}``: ``command`` built from ``model`` (may be left out unless
        ``body_required``), answering the counter's state."""

        async def endpoint(
            branch_id: str, counter_id: str, app: Reception, meta: Metadata, response: Response, **kw: Any
        ) -> CounterView:
            body = kw.get("body") or model.model_validate({})  # a body left out: its defaults
            if isinstance(body, OpenBody):
                body.check(app)
            build = _command(command, app, (branch_id, counter_id), body, meta)
            result = await app.counters.run(branch_id, counter_id, build, meta=meta)
            response.headers["ETag"] = f'"{result.version}"'
            return CounterView.of(branch_id, counter_id, result.state, result.version)

        keyword = inspect.Parameter.KEYWORD_ONLY
        optional = {} if body_required else {"default": None}
        params = [
            inspect.Parameter("branch_id", keyword, annotation=BranchId),
            inspect.Parameter("counter_id", keyword, annotation=Counter),
            inspect.Parameter("app", keyword, annotation=Annotated[Reception, Depends(reception)]),
            inspect.Parameter("staff", keyword, annotation=Manage),
            inspect.Parameter("meta", keyword, annotation=Annotated[Metadata, Depends(command_metadata)]),
            inspect.Parameter("response", keyword, annotation=Response),
            inspect.Parameter(
                "body", keyword, annotation=model if body_required else model | None, **optional
            ),
        ]
        endpoint.__name__, endpoint.__doc__ = name, doc
        endpoint.__signature__ = inspect.Signature(params, return_annotation=CounterView)  # type: ignore[attr-defined]
        self.router.add_api_route(
            f"{COUNTER}/{step}", endpoint, methods=["POST"], response_model=CounterView, name=name
        )


counters = CounterRoutes(router)
counters.post(
    "open",
    k.OpenCounter,
    OpenBody,
    name="open_counter",
    doc="The counter starts calling (only open counters count in the wait estimate).",
)
counters.post(
    "pause",
    k.PauseCounter,
    PauseBody,
    name="pause_counter",
    doc="Stop calling for a while, with the reason (lunch, break, equipment …).",
    body_required=True,
)
counters.post("resume", k.ResumeCounter, StaffBody, name="resume_counter")
counters.post(
    "close",
    k.CloseCounter,
    StaffBody,
    name="close_counter",
    doc="Close the counter (end of the day, or a teller leaves it); refused while a customer is at it.",
)


@router.get(COUNTER, response_model=CounterView)
async def get_counter(
    branch_id: BranchId,
    counter_id: Counter,
    app: App,
    staff: Annotated[Principal, Depends(requires("reception.lobby.read"))],
    response: Response,
) -> CounterView:
    """A counter's state (closed when nobody ever opened it)."""
    loaded = await app.counters.load(branch_id, counter_id)
    response.headers["ETag"] = f'"{loaded.version}"'
    return CounterView.of(branch_id, counter_id, loaded.state, loaded.version)
