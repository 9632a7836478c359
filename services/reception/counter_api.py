"""Counter routes: open, pause (with a reason), resume, close, and a counter's state.

``POST /branches/{b}/counters/{c}/open | pause | resume | close`` answer the counter's state
(``ETag`` = its version); 409 when the step is not allowed now (already open, busy with a
customer, not paused …), 422 for bad input. The acting member of staff comes from the token; the
body may name the teller at the counter (``staff_id``), as for ``call``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.reception import components
from services.reception import counter as k
from services.reception.app import Reception
from shared.auth import Principal, requires
from shared.commands import CommandResult
from shared.contracts.common import StaffId
from shared.contracts.reception import CounterId, CounterPauseReason, LineName
from shared.envelope import Metadata
from shared.http import command_metadata
from shared.runner import ServiceContext, context

router = APIRouter(tags=["reception: counters"])

BranchId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_\-]{1,64}$")]
Counter = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.\-]+$")]
Meta = Annotated[Metadata, Depends(command_metadata)]
Manage = Annotated[Principal, Depends(requires("reception.counter.manage"))]


def reception(ctx: Annotated[ServiceContext, Depends(context)]) -> Reception:
    return components.reception(ctx)


App = Annotated[Reception, Depends(reception)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OpenBody(_Body):
    #: the teller at the counter; defaults to the acting member of staff
    staff_id: StaffId | None = None
    #: the lines the counter serves; empty = every line
    lines: list[LineName] = Field(default_factory=list, max_length=16)

    @field_validator("lines")
    @classmethod
    def _distinct(cls, lines: list[LineName]) -> list[LineName]:
        return list(dict.fromkeys(lines))


class PauseBody(_Body):
    reason: CounterPauseReason
    staff_id: StaffId | None = None


class StaffBody(_Body):
    staff_id: StaffId | None = None


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


def _view(branch_id: str, counter_id: str, state: k.Counter, version: int) -> CounterView:
    return CounterView(
        branch_id=branch_id,
        counter_id=counter_id,
        status=state.status.value,
        staff_id=state.staff_id,
        lines=list(state.lines),
        pause_reason=state.pause_reason,
        since=state.since,
        version=version,
    )


def _result(
    branch_id: str, counter_id: str, result: CommandResult[k.Counter], response: Response
) -> CounterView:
    response.headers["ETag"] = f'"{result.version}"'
    return _view(branch_id, counter_id, result.state, result.version)


@router.post("/branches/{branch_id}/counters/{counter_id}/open", response_model=CounterView)
async def open_counter(
    branch_id: BranchId, counter_id: Counter, app: App, staff: Manage, meta: Meta, response: Response,
    body: OpenBody | None = None,
) -> CounterView:  # fmt: skip
    """The counter starts calling (only open counters count in the wait estimate)."""
    body = body or OpenBody()
    unknown = [line for line in body.lines if line not in app.catalogue.lines]
    if unknown:
        known = ", ".join(app.catalogue.lines)
        raise RequestValidationError(
            [
                {
                    "loc": ("body", "lines"),
                    "msg": f"no line {', '.join(unknown)} (lines: {known})",
                    "type": "value_error",
                }
            ]
        )
    teller = body.staff_id or meta.actor
    now = app.now()
    day_start = app.counters.day_start(branch_id, now)
    result = await app.counters.run(
        branch_id,
        counter_id,
        lambda busy: k.OpenCounter(counter_id, teller, now, tuple(body.lines), day_start),
        meta=meta,
    )
    return _result(branch_id, counter_id, result, response)


@router.post("/branches/{branch_id}/counters/{counter_id}/pause", response_model=CounterView)
async def pause_counter(
    branch_id: BranchId, counter_id: Counter, body: PauseBody, app: App, staff: Manage, meta: Meta,
    response: Response,
) -> CounterView:  # fmt: skip
    """Stop calling for a while, with the reason (lunch, break, equipment …)."""
    teller = body.staff_id or meta.actor
    now = app.now()
    result = await app.counters.run(
        branch_id,
        counter_id,
        lambda busy: k.PauseCounter(counter_id, teller, body.reason, now, busy),
        meta=meta,
    )
    return _result(branch_id, counter_id, result, response)


@router.post("/branches/{branch_id}/counters/{counter_id}/resume", response_model=CounterView)
async def resume_counter(
    branch_id: BranchId, counter_id: Counter, app: App, staff: Manage, meta: Meta, response: Response,
    body: StaffBody | None = None,
) -> CounterView:  # fmt: skip
    teller = (body.staff_id if body else None) or meta.actor
    now = app.now()
    result = await app.counters.run(
        branch_id, counter_id, lambda busy: k.ResumeCounter(counter_id, teller, now), meta=meta
    )
    return _result(branch_id, counter_id, result, response)


@router.post("/branches/{branch_id}/counters/{counter_id}/close", response_model=CounterView)
async def close_counter(
    branch_id: BranchId, counter_id: Counter, app: App, staff: Manage, meta: Meta, response: Response,
    body: StaffBody | None = None,
) -> CounterView:  # fmt: skip
    """Close the counter (end of the day, or a teller leaves it); refused while a customer is at it."""
    teller = (body.staff_id if body else None) or meta.actor
    now = app.now()
    result = await app.counters.run(
        branch_id, counter_id, lambda busy: k.CloseCounter(counter_id, teller, now, busy), meta=meta
    )
    return _result(branch_id, counter_id, result, response)


@router.get("/branches/{branch_id}/counters/{counter_id}", response_model=CounterView)
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
    return _view(branch_id, counter_id, loaded.state, loaded.version)
