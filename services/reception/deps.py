"""How reception's routes reach the running application, and what they check before running.

:func:`reception` is the one place a route gets the :class:`~services.reception.app.Reception`
application of the running service (``components.py``); every router of the service depends on it.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Path, Request

from services.reception import components
from services.reception import decider as v
from services.reception import phone as p
from services.reception.app import Reception
from shared.commands import stream_branch
from shared.envelope import Metadata
from shared.http import command_metadata
from shared.runner import ServiceContext


async def reception(request: Request) -> Reception:
    """The reception application of the running service (built once: :mod:`components`; async, so
    FastAPI does not hop to its thread pool for it). It reads the service's context off the app
    itself rather than through the runner's ``context`` dependency: one dependency node fewer, which
    FastAPI would solve on every request of every route (and again under each branch check)."""
    ctx: ServiceContext = request.app.state.ctx
    return components.reception(ctx)


App = Annotated[Reception, Depends(reception)]
Meta = Annotated[Metadata, Depends(command_metadata)]
BranchId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_\-]{1,64}$")]


async def visit_branch(visit_id: UUID, app: App) -> str | None:
    """The visit's branch, checked before a route on it runs (``requires_on``). Only the branch:
    a visit's command reads its stream with its deadline rows' lock (``Reception.lock_deadlines``),
    so a stream loaded here would not be used."""
    return await stream_branch(app.store, v.stream_id(visit_id))


async def call_branch(call_id: UUID, app: App) -> str | None:
    """The call's branch, checked before a route on it runs (``requires_on``), as :func:`visit_branch`."""
    return await stream_branch(app.store, p.stream_id(call_id))
