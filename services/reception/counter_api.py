"""Counter routes: open, pause (with a reason), resume, close, and a counter's state.

``POST /branches/{b}/counters/{c}/open | pause | resume | close`` answer the counter's state
(``ETag`` = its version); 409 when the step is not allowed now (already open, busy with a
customer, not paused …), 422 for bad input. The acting member of staff comes from the token; the
body may name the teller at the counter (``staff_id``), as for ``call``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.reception import counter as k
from services.reception.deps import App, BranchId, Meta
from shared.auth import Principal, requires
from shared.contracts.common import StaffId
from shared.contracts.reception import CounterId, CounterPauseReason, LineName
from shared.envelope import Metadata

router = APIRouter(tags=["reception: counters"])

Counter = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.\-]+$")]
Manage = Annotated[Principal, Depends(requires("reception.counter.manage"))]


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


async def _run(
    app: App,
    branch_id: str,
    counter_id: str,
    build: Callable[[datetime, str | None], k.CounterCommand],
    meta: Metadata,
    response: Response,
) -> CounterView:
    """Run a counter command: ``build(now, busy)`` gets the server's time and the ticket of the
    customer at the counter (read and locked in the command's transaction)."""
    now = app.now()
    result = await app.counters.run(branch_id, counter_id, lambda busy: build(now, busy), meta=meta)
    response.headers["ETag"] = f'"{result.version}"'
    return _view(branch_id, counter_id, result.state, result.version)


def _teller(body: OpenBody | PauseBody | StaffBody | None, meta: Metadata) -> str:
    """The teller at the counter: the body's, else the acting member of staff."""
    return (body.staff_id if body else None) or meta.actor


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
    teller, lines = _teller(body, meta), tuple(body.lines)
    day_start = app.counters.day_start
    return await _run(
        app,
        branch_id,
        counter_id,
        lambda now, busy: k.OpenCounter(
            counter_id=counter_id, staff_id=teller, at=now, lines=lines, day_start=day_start(branch_id, now)
        ),
        meta,
        response,
    )


@router.post("/branches/{branch_id}/counters/{counter_id}/pause", response_model=CounterView)
async def pause_counter(
    branch_id: BranchId, counter_id: Counter, body: PauseBody, app: App, staff: Manage, meta: Meta,
    response: Response,
) -> CounterView:  # fmt: skip
    """Stop calling for a while, with the reason (lunch, break, equipment …)."""
    teller = _teller(body, meta)
    return await _run(
        app,
        branch_id,
        counter_id,
        lambda now, busy: k.PauseCounter(
            counter_id=counter_id, staff_id=teller, reason=body.reason, at=now, busy_with=busy
        ),
        meta,
        response,
    )


def _by_staff(
    name: str, doc: str | None, make: Callable[[str, str, datetime, str | None], k.CounterCommand]
) -> Callable[..., Awaitable[CounterView]]:
    """A counter step whose body may only name the teller: ``make(counter_id, teller, now, busy)``."""

    async def route(
        branch_id: BranchId, counter_id: Counter, app: App, staff: Manage, meta: Meta, response: Response,
        body: StaffBody | None = None,
    ) -> CounterView:  # fmt: skip
        teller = _teller(body, meta)
        return await _run(
            app, branch_id, counter_id, lambda now, busy: make(counter_id, teller, now, busy), meta, response
        )

    route.__name__, route.__doc__ = name, doc
    return route


COUNTER = "/branches/{branch_id}/counters/{counter_id}"
router.post(f"{COUNTER}/resume", response_model=CounterView)(
    _by_staff(
        "resume_counter",
        None,
        lambda counter_id, teller, now, busy: k.ResumeCounter(counter_id=counter_id, staff_id=teller, at=now),
    )
)
router.post(f"{COUNTER}/close", response_model=CounterView)(
    _by_staff(
        "close_counter",
        "Close the counter (end of the day, or a teller leaves it); refused while a customer is at it.",
        lambda counter_id, teller, now, busy: k.CloseCounter(
            counter_id=counter_id, staff_id=teller, at=now, busy_with=busy
        ),
    )
)


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
