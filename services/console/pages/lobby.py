"""The lobby board: who waits on which line, for how long, counters busy or free — live.

The page opens an ``EventSource`` on ``/b/{b}/lobby/stream``; the console polls reception's
``GET /branches/{b}/lobby`` every ``lobby_poll_seconds`` (0.5 s) with the viewer's own token and
pushes the re-rendered board whenever it changed, so a new arrival shows within a second without a
reload. Browsers without EventSource (or behind a proxy that buffers it) poll ``/partial``.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sse_starlette import EventSourceResponse, ServerSentEvent

from services.console.i18n import Translator
from services.console.pages.page import BranchPage, Page
from services.console.web import Panel, fmt_duration, templates

router = APIRouter()

ACTION = "reception.lobby.read"
HEARTBEAT_SECONDS = 15.0
#: a stream ends itself after this long; the browser's EventSource reconnects at once
MAX_STREAM_SECONDS = 600.0


def board_view(lobby: dict[str, Any], t: Translator) -> dict[str, Any]:
    """Reception's board, grouped for display: lines with their waiting customers, counters."""
    by_line: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for person in lobby.get("waiting", []):
        by_line[person.get("line") or ""].append(person)
    lines = []
    for line in lobby.get("lines", []):
        name = line.get("line", "")
        label = t.label("line", name) if t.has("line", name) else line.get("label") or name
        people = sorted(
            by_line.get(name, []),
            key=lambda p: (p.get("status") != "called", -(p.get("waited_seconds") or 0)),
        )
        lines.append({**line, "display": label, "people": people})
    # lines with nobody and nothing to say go last, busy ones first
    lines.sort(key=lambda ln: (not ln["people"], ln.get("prefix") or ""))
    waiting = [p for p in lobby.get("waiting", []) if p.get("status") == "queued"]
    return {
        "lines": lines,
        "counters": lobby.get("counters", []),
        "called": [p for p in lobby.get("waiting", []) if p.get("status") == "called"],
        #: greeted, guided, documents, being served (counts; the board may be a public screen)
        "stages": (lobby.get("in_progress") or {}).get("counts") or {},
        "totals": {
            "waiting": len(waiting),
            "at_risk": sum(1 for p in waiting if p.get("sla") == "at_risk"),
            "breached": sum(1 for p in waiting if p.get("sla") == "breached"),
        },
        "at": lobby.get("at"),
    }


async def board_panel(page: Page) -> Panel:
    panel = await page.fetch("reception", f"/branches/{page.branch_id}/lobby", action=ACTION)
    if panel.ok:
        panel.data = board_view(panel.data, page.t)
    return panel


def render_board(page: Page, panel: Panel) -> str:
    clocks = page.request.app.state.clocks
    t, branch_id = page.t, page.branch_id
    template = templates.get_template("_lobby_board.html")
    return template.render(
        t=t,
        board=panel.data,
        problem=panel.problem,
        branch_id=branch_id,
        dur=lambda s: fmt_duration(s, t.lang),
        local=lambda v, fmt="%H:%M:%S": clocks.local(v, branch_id, fmt, t.lang),
    )


@router.get("/b/{branch_id}/lobby")
async def lobby_page(page: BranchPage, screen: int = 0) -> Response:
    page.require(ACTION)
    board_html = render_board(page, await board_panel(page))
    return page.render("lobby.html", active="nav.lobby", board_html=board_html, screen=bool(screen))


@router.get("/b/{branch_id}/lobby/partial")
async def lobby_partial(page: BranchPage) -> HTMLResponse:
    page.require(ACTION)
    return HTMLResponse(render_board(page, await board_panel(page)))


def _stopping(request: Request) -> bool:
    server = request.app.state.server
    return bool(request.app.state.stopping or (server is not None and server.should_exit))


def live_html(page: Page, produce: Callable[[], Awaitable[str]], event: str = "board") -> EventSourceResponse:
    """Server-sent events (sse-starlette): ``event`` (the fragment's HTML, JSON-encoded) whenever
    ``produce`` renders something new, ``expired`` when the viewer's token runs out (the page then
    asks to sign in again); a comment line every ``HEARTBEAT_SECONDS`` keeps proxies from closing a
    quiet stream. The lobby board and the desk's visit list use it alike."""
    request, session = page.request, page.session
    poll = request.app.state.settings.lobby_poll_seconds

    async def events() -> AsyncIterator[ServerSentEvent]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        previous: str | None = None
        yield ServerSentEvent(comment=event, retry=1000)
        while not _stopping(request) and loop.time() - started < MAX_STREAM_SECONDS:
            if session.expired:
                yield ServerSentEvent(data="{}", event="expired")
                return
            if await request.is_disconnected():
                return
            html = await produce()
            if html != previous:
                previous = html
                yield ServerSentEvent(data=json.dumps(html), event=event)
            await asyncio.sleep(poll)

    return EventSourceResponse(
        events(),
        ping=HEARTBEAT_SECONDS,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get("/b/{branch_id}/lobby/stream")
async def lobby_stream(page: BranchPage) -> EventSourceResponse:
    """The board, live (see :func:`live_html`)."""
    page.require(ACTION)

    async def produce() -> str:
        return render_board(page, await board_panel(page))

    return live_html(page, produce)
