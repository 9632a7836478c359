"""How operator commands show an event's data: never a customer's words or numbers.

Events carry free text only as references (:class:`~shared.contracts.text.TextRef`); an operator
sees the reference (context, text id, length), never the words, which stay in the owning
service's private store behind its audited ``GET /texts/{id}``. Every other string goes through
the one masking policy (``shared.pii.scrub_text``: phone, card, ID and account numbers keep their
last four digits), so a value that should never have been in an event is still not shown whole.
Events are upcast first, so a v1 event that still holds inline text is shown as a withheld ref.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError

from shared.contracts.text import TextRef
from shared.envelope import Envelope
from shared.pii import scrub_text
from shared.registry import REGISTRY, EventRegistry, UnknownEventType

log = logging.getLogger(__name__)

_REF_KEYS = frozenset(TextRef.model_fields)


def masked(value: Any) -> Any:
    """``value`` (an event's JSON data) with text references summarised and numbers masked."""
    if isinstance(value, dict):
        if value.keys() <= _REF_KEYS and {"context", "length"} <= value.keys():
            return _ref(value)
        return {k: masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    if isinstance(value, str):
        return scrub_text(value)
    return value


def _ref(node: dict[str, Any]) -> str:
    try:
        ref = TextRef.model_validate(node)
    except ValidationError:
        return "<text reference, unreadable>"
    if ref.withheld:
        return f"<{ref.context} text, {ref.length} chars, withheld>"
    return f"<{ref.context} text {ref.text_id}, {ref.length} chars>"


def masked_envelope(envelope: Envelope, registry: EventRegistry = REGISTRY) -> dict[str, Any]:
    """The envelope as JSON-ready dict, upcast if its type is known, data masked."""
    try:
        envelope = registry.upcast(envelope, stored=True)
    except (UnknownEventType, ValidationError) as exc:
        log.debug("showing %s as stored: %s", envelope.type, exc)
    doc = envelope.model_dump(mode="json")
    doc["data"] = masked(doc["data"])
    doc["actor"] = scrub_text(doc["actor"])
    return doc
