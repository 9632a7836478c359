"""The event catalogue for people: every topic and event type as a table, and the AsyncAPI file.

Public like the services' ``/openapi.json`` and ``/asyncapi.json``: it documents contracts, never
data. ``/asyncapi.json`` here is the whole catalogue (every service's channels); each service serves
its own part at its own ``/asyncapi.json``.
"""

from __future__ import annotations

import functools
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.console.session import NeedsSignIn, Session, T, current_session
from services.console.web import render
from shared import catalogue

router = APIRouter()


@functools.cache
def _document() -> dict[str, Any]:
    return catalogue.build_document()


def rows(document: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (topic, event type): version, summary, fields, who reads it."""
    messages = document["components"]["messages"]
    out = []
    for topic, channel in document["channels"].items():
        readers = sorted(
            op["x-service"]
            for op in document["operations"].values()
            if op["action"] == "receive" and op["channel"]["$ref"].endswith(f"/{topic}")
        )
        for name in channel["messages"]:
            message = messages[name]
            fields: list[str] = []
            if name != "DeadLetter":
                data = catalogue.resolve_ref(catalogue.data_schema(document, name), document)
                fields = sorted(data.get("properties", {}))
            out.append(
                {
                    "topic": topic,
                    "type": name,
                    "version": message.get("x-schema-version", ""),
                    "summary": message.get("summary", ""),
                    "fields": fields,
                    "readers": readers,
                }
            )
    return out


def current_session_or_none(request: Request) -> Session | None:
    try:
        return current_session(request)
    except NeedsSignIn:
        return None


@router.get("/asyncapi.json", include_in_schema=False)
async def asyncapi() -> Response:
    return Response(catalogue.render(_document()), media_type="application/json")


@router.get("/help/events")
async def events_page(request: Request, t: T) -> Response:
    document = _document()
    session = current_session_or_none(request)
    services = request.app.state.settings.service_urls
    return render(
        request,
        "events.html",
        t,
        session,
        branch_id=session.branches[0] if session is not None and session.branches else None,
        rows=rows(document),
        version=document["info"]["version"],
        service_docs={name: f"{url.rstrip('/')}/asyncapi.json" for name, url in sorted(services.items())},
    )
