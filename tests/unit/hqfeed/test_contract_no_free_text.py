"""Headquarters' contract cannot hold free text: every string field of every HQ-facing event is a
code (pattern or enum), a date / time or a UUID — checked on the JSON Schemas the catalogue
publishes, so a field added later without a pattern fails here."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from shared.catalogue import SUBSCRIPTIONS, build_document
from shared.contracts.hqfeed import HQ_CONTRACT, ComplaintFactsUpdated
from shared.registry import EventData

SAFE_FORMATS = frozenset({"date-time", "date", "uuid"})


def free_text_fields(schema: dict[str, Any]) -> list[str]:
    """Paths of string schemas without a pattern, an enum, a const or a safe format."""
    defs = schema.get("$defs", {})
    found: list[str] = []

    def walk(node: Any, path: str) -> None:
        if not isinstance(node, dict):
            return
        if "$ref" in node:
            walk(defs[node["$ref"].rsplit("/", 1)[1]], path)
            return
        if node.get("type") == "string" and not (
            "pattern" in node or "enum" in node or "const" in node or node.get("format") in SAFE_FORMATS
        ):
            found.append(path or "<root>")
        for key in ("anyOf", "oneOf", "allOf"):
            for i, sub in enumerate(node.get(key, [])):
                walk(sub, f"{path}|{i}")
        for name, sub in node.get("properties", {}).items():
            walk(sub, f"{path}.{name}")
        walk(node.get("items"), f"{path}[]")
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], f"{path}{{}}")
            walk(node.get("propertyNames") or {"type": "string"}, f"{path}{{key}}")

    walk(schema, "")
    return found


@pytest.mark.parametrize("model", HQ_CONTRACT, ids=lambda m: m.event_type)
def test_no_field_of_an_hq_contract_event_can_hold_free_text(model: type[EventData]) -> None:
    assert free_text_fields(model.model_json_schema()) == []


def test_the_check_catches_a_plain_string_and_an_open_map() -> None:
    class Leaky(BaseModel):
        note: str
        labels: dict[str, int]
        maybe: str | None = None

    assert sorted(free_text_fields(Leaky.model_json_schema())) == [".labels{key}", ".maybe|0", ".note"]


def test_the_catalogue_documents_the_contract_topic_and_hq_reads_only_it() -> None:
    doc = build_document()
    channel = doc["channels"]["hqfeed.events.v1"]
    assert set(channel["messages"]) == {m.event_type for m in HQ_CONTRACT}
    assert SUBSCRIPTIONS["hq"] == ("hqfeed",)
    for name in channel["messages"]:
        schema = doc["components"]["schemas"][name]
        assert free_text_fields({**schema, "$defs": doc["components"]["schemas"]}) == []


def test_a_complaint_snapshot_refuses_words_in_a_code_field() -> None:
    with pytest.raises(ValueError):
        ComplaintFactsUpdated.model_validate(
            {
                "complaint_id": "6f1c1a52-0d7e-4f43-9a32-0b6a1c0e9d11",
                "branch_id": "b001",
                "category": "other",
                "nature": "general",
                "cause_code": "the customer Zhang San, 13800138000",
            }
        )
