"""The AsyncAPI event catalogue: complete, committed, served, and guarding the contracts.

If ``test_the_committed_catalogue_is_up_to_date`` fails after you changed an event contract in a
compatible way (a new optional field, a new enum value, a new event type), regenerate it:
``python -m shared.catalogue --write`` and commit ``docs/events/asyncapi.json``.
"""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest

from services.complaint.service import SERVICE as COMPLAINT
from shared import catalogue
from shared.catalogue import build_document, incompatibilities, read_snapshot, render, service_document
from shared.registry import REGISTRY, EventRegistry
from shared.runner import create_app
from shared.settings import ServiceSettings

HOW = (
    "If the change is backward compatible (new optional field, new enum value, new event type), "
    "regenerate the snapshot: `python -m shared.catalogue --write` and commit docs/events/asyncapi.json. "
    "If it is not (a removed or retyped field, a narrowed enum, a new required field), keep the old "
    "version readable: raise the event's schema_version (@event(name, version=N+1)) and register an "
    "upcaster from the old version (REGISTRY.add_upcaster(name, N, fn)) — then regenerate."
)


@pytest.fixture(scope="module")
def current() -> dict[str, Any]:
    return build_document()


def test_no_backward_incompatible_contract_change(current: dict[str, Any]) -> None:
    problems = incompatibilities(read_snapshot(), current)
    assert not problems, (
        "incompatible event contract change:\n  " + "\n  ".join(map(str, problems)) + "\n" + HOW
    )


def test_the_committed_catalogue_is_up_to_date(current: dict[str, Any]) -> None:
    assert render(read_snapshot()) == render(current), "docs/events/asyncapi.json is stale.\n" + HOW


def test_every_registered_event_is_documented_with_its_schema_and_version(current: dict[str, Any]) -> None:
    catalogue.load_contracts()
    models = catalogue.catalogued_models()
    messages = current["components"]["messages"]
    assert set(models) <= set(messages) and len(models) >= 60
    for event_type, model in models.items():
        message = messages[event_type]
        assert message["x-schema-version"] == model.schema_version
        data = catalogue.resolve_ref(catalogue.data_schema(current, event_type), current)
        assert set(data.get("properties", {})) == set(model.model_fields), event_type
        assert message["bindings"]["kafka"]["key"]["description"].startswith("branch_id")
    envelope = current["components"]["schemas"]["Envelope"]
    assert {"event_id", "type", "schema_version", "branch_id", "correlation_id", "data"} <= set(
        envelope["properties"]
    )
    topics = {name for name in current["channels"] if not name.endswith(".dlq")}
    assert topics == {
        f"{c}.events.v1" for c in ("reception", "complaint", "followup", "feedback", "hqfeed", "hq")
    }
    assert "SlaBreached" in current["channels"]["complaint.events.v1"]["messages"]


# --------------------------------------------------------------------------- the checker itself


def _data(doc: dict[str, Any], event_type: str) -> dict[str, Any]:
    ref = doc["components"]["messages"][event_type]["payload"]["allOf"][1]["properties"]["data"]["$ref"]
    return doc["components"]["schemas"][ref.rsplit("/", 1)[1]]


def _problems(old: dict[str, Any], new: dict[str, Any], registry: EventRegistry = REGISTRY) -> list[str]:
    return [str(p) for p in incompatibilities(old, new, registry)]


def test_the_checker_refuses_removed_retyped_narrowed_and_new_required_fields(
    current: dict[str, Any],
) -> None:
    new = copy.deepcopy(current)
    sla = _data(new, "SlaBreached")
    del sla["properties"]["subject_id"]
    sla["properties"]["at"] = {"type": "integer"}
    sla["properties"]["tracking_code"] = {"type": "string"}
    sla["required"] = [*sla["required"], "tracking_code"]
    channel = new["components"]["schemas"]["Channel"]
    channel["enum"] = channel["enum"][1:]
    problems = "\n".join(_problems(current, new))
    assert "SlaBreached: data.subject_id: field removed" in problems
    assert "SlaBreached: data.at: string no longer accepted (retyped)" in problems
    assert "SlaBreached: data.tracking_code: new required field" in problems
    assert f"enum narrowed, {current['components']['schemas']['Channel']['enum'][0]} removed" in problems
    del new["components"]["messages"]["SlaAtRisk"]
    assert any(p.startswith("SlaAtRisk: event type: removed") for p in _problems(current, new))


def test_the_checker_accepts_compatible_changes(current: dict[str, Any]) -> None:
    new = copy.deepcopy(current)
    sla = _data(new, "SlaBreached")
    sla["properties"]["note"] = {"type": "string", "default": ""}  # optional: old events lack it
    new["components"]["schemas"]["Channel"]["enum"].append("carrier_pigeon")
    new["components"]["messages"]["BrandNewThing"] = copy.deepcopy(
        new["components"]["messages"]["SlaBreached"]
    )
    assert _problems(current, new) == []


def test_a_new_schema_version_needs_an_upcaster(current: dict[str, Any]) -> None:
    new = copy.deepcopy(current)
    del _data(new, "SlaBreached")["properties"]["subject_id"]
    new["components"]["messages"]["SlaBreached"]["x-schema-version"] = 2
    registry = EventRegistry()
    assert _problems(current, new, registry) == ["SlaBreached: schema_version: v2 has no upcaster from v1"]
    registry.add_upcaster("SlaBreached", 1, lambda data: {k: v for k, v in data.items() if k != "subject_id"})
    assert _problems(current, new, registry) == []


# ---------------------------------------------------------------------------------- served


async def test_a_service_serves_its_part_of_the_catalogue_without_a_token(current: dict[str, Any]) -> None:
    settings = ServiceSettings(
        database_url="postgresql://x@127.0.0.1:1/x", kafka_bootstrap_servers="127.0.0.1:1"
    )
    app = create_app(COMPLAINT, settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.get("/asyncapi.json")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    served = response.json()
    assert served == service_document("complaint", current)
    assert served["asyncapi"] == "3.0.0"
    actions = {name: op["action"] for name, op in served["operations"].items()}
    assert actions["complaint.publish"] == "send" and actions["complaint.receive.reception"] == "receive"
    assert "hq.events.v1" not in served["channels"]  # complaint neither sends nor reads it
    published = served["channels"]["complaint.events.v1"]["messages"]
    assert len(published) == len(current["channels"]["complaint.events.v1"]["messages"]) >= 30
    refs = catalogue._reachable(served["components"]["messages"], current["components"]["schemas"])
    assert refs <= set(served["components"]["schemas"])
