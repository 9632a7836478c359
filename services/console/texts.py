"""Free texts on console pages: shown through the service that keeps them (``shared/texts.py``).

Services answer a text field as a view (``context``, ``text_id``, ``length``, ``status``, ``text``):
their own texts come with the words for staff of the branch; a text another context keeps comes as
``status: elsewhere`` — a complaint opened from a visit keeps reception's description, a follow-up
task points at a remediation action of the complaint service. :func:`resolve_elsewhere` fetches
those from their owner (``GET /texts/{text_id}``, action ``text.read``: the owner checks the branch
and audits the read) before the page renders; :func:`show_text` turns any text field into what a
person reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

from services.console.backend import Backend, Unavailable
from services.console.i18n import Translator
from services.console.session import Denied, Session

#: at most this many texts are fetched from other services for one page
MAX_TEXTS_PER_PAGE = 50
_VIEW_KEYS = frozenset({"context", "text_id", "length", "status"})
_SERVICES = frozenset({"reception", "complaint", "followup", "feedback"})


def _views(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if _VIEW_KEYS <= node.keys():
            yield node
            return
        for value in node.values():
            yield from _views(value)
    elif isinstance(node, list):
        for value in node:
            yield from _views(value)


async def resolve_elsewhere(backend: Backend, session: Session, branch_id: str, *payloads: Any) -> None:
    """Fill in (in place) the texts of ``payloads`` that another service keeps, for staff who may
    read texts of ``branch_id``; the others stay as they are (shown as not available)."""
    wanted: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for payload in payloads:
        for view in _views(payload):
            if view.get("status") == "elsewhere" and view.get("context") in _SERVICES and view.get("text_id"):
                wanted.setdefault((view["context"], str(view["text_id"])), []).append(view)
    if not wanted or not session.can("text.read", branch_id):
        return

    async def one(context: str, text_id: str) -> dict[str, Any] | None:
        try:
            result = await backend.get(
                session, context, f"/texts/{text_id}", action="text.read", branch_id=branch_id
            )
        except (Unavailable, Denied):
            return None
        return result.body if result.ok and isinstance(result.body, dict) else None

    keys = list(wanted)[:MAX_TEXTS_PER_PAGE]
    found = await asyncio.gather(*(one(context, text_id) for context, text_id in keys))
    for key, body in zip(keys, found, strict=True):
        if body is None:
            continue
        for view in wanted[key]:
            view["status"] = body.get("status", view["status"])
            view["text"] = body.get("text")


def show_text(value: Any, t: Translator) -> str:
    """A text field as a person reads it: the words, or why they are not shown."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "status" in value:
        if value.get("status") == "shown" and value.get("text") is not None:
            return str(value["text"])
        return t(f"text.{value.get('status', 'unknown')}")
    if isinstance(value, dict) and value.get("withheld"):
        return t("text.withheld")
    return t("text.unknown")
