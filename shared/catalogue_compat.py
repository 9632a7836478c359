"""Is a new event catalogue backward compatible with the committed snapshot?

Events already stored or on a topic must still be read as they were: a removed or retyped field, a
narrowed enum, a new required field or a removed event type is a problem, unless the event got a
new ``schema_version`` *and* an upcaster from the old one. The documents compared are the AsyncAPI
documents :mod:`shared.catalogue` builds; ``tests/unit/test_event_catalogue.py`` runs the check.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.registry import REGISTRY, EventRegistry


@dataclass(frozen=True)
class Problem:
    event_type: str
    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.event_type}: {self.where}: {self.what}"


def resolve_ref(node: Mapping[str, Any], doc: Mapping[str, Any]) -> Mapping[str, Any]:
    seen = 0
    while "$ref" in node and seen < 20:
        node = doc["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
        seen += 1
    return node


def _variants(node: Mapping[str, Any], doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    node = resolve_ref(node, doc)
    for key in ("anyOf", "oneOf"):
        if key in node:
            return [v for option in node[key] for v in _variants(option, doc)]
    return [node]


def _signature(node: Mapping[str, Any]) -> str:
    if "enum" in node:
        return "enum"
    if "const" in node:
        return f"const:{node['const']!r}"
    kind = node.get("type", "any")
    if kind == "integer":
        return "number"  # an int is a number: integer → number widens
    return str(kind)


def _compare(old: Mapping[str, Any], new: Mapping[str, Any], od: Any, nd: Any, where: str) -> list[str]:
    """Why data valid under ``old`` may be refused by (or mean something else under) ``new``."""
    problems: list[str] = []
    old_variants, new_variants = _variants(old, od), _variants(new, nd)
    for ov in old_variants:
        candidates = [nv for nv in new_variants if _signature(nv) == _signature(ov)]
        if not candidates and _signature(ov) == "number":
            candidates = [nv for nv in new_variants if nv.get("type") == "number"]
        if not candidates:
            if any(_signature(nv) == "any" for nv in new_variants):
                continue
            problems.append(f"{where}: {_signature(ov)} no longer accepted (retyped)")
            continue
        if ov.get("type") == "number" and all(nv.get("type") == "integer" for nv in candidates):
            problems.append(f"{where}: number narrowed to integer")
            continue
        nv = candidates[0]
        if "enum" in ov:
            removed = sorted(set(map(str, ov["enum"])) - set(map(str, nv.get("enum", ov["enum"]))))
            if removed:
                problems.append(f"{where}: enum narrowed, {', '.join(removed)} removed")
        if isinstance(ov.get("maxLength"), int) and nv.get("maxLength", 1 << 30) < ov["maxLength"]:
            problems.append(f"{where}: maxLength lowered {ov['maxLength']} → {nv['maxLength']}")
        if ov.get("type") == "object" or "properties" in ov:
            old_props, new_props = ov.get("properties", {}), nv.get("properties", {})
            for name, schema in old_props.items():
                if name not in new_props:
                    if nv.get("additionalProperties") is False or "properties" in nv:
                        problems.append(f"{where}.{name}: field removed")
                    continue
                problems += _compare(schema, new_props[name], od, nd, f"{where}.{name}")
            added = sorted(set(nv.get("required", ())) - set(ov.get("required", ())))
            for name in added:
                problems.append(f"{where}.{name}: new required field (old events do not have it)")
        if ov.get("type") == "array" and "items" in ov and "items" in nv:
            problems += _compare(ov["items"], nv["items"], od, nd, f"{where}[]")
    return problems


def data_schema(document: Mapping[str, Any], event_type: str) -> Mapping[str, Any]:
    payload = document["components"]["messages"][event_type]["payload"]
    return payload["allOf"][1]["properties"]["data"]


def _envelope_schema(document: Mapping[str, Any]) -> Mapping[str, Any]:
    any_message = next(m for name, m in document["components"]["messages"].items() if name != "DeadLetter")
    return any_message["payload"]["allOf"][0]


def incompatibilities(
    old: Mapping[str, Any], new: Mapping[str, Any], registry: EventRegistry = REGISTRY
) -> list[Problem]:
    """Backward-incompatible changes from the snapshot ``old`` to ``new``: events already stored or
    on a topic would no longer be read as they were. A change that comes with a new
    ``schema_version`` and upcasters from the snapshot's version is fine: old events are upcast."""
    problems: list[Problem] = []
    old_messages = {k: v for k, v in old["components"]["messages"].items() if k != "DeadLetter"}
    new_messages = new["components"]["messages"]
    for event_type, message in sorted(old_messages.items()):
        if event_type not in new_messages:
            problems.append(
                Problem(event_type, "event type", "removed (stored events of it can no longer be read)")
            )
            continue
        old_version = int(message["x-schema-version"])
        new_version = int(new_messages[event_type]["x-schema-version"])
        if new_version < old_version:
            problems.append(
                Problem(event_type, "schema_version", f"went back from {old_version} to {new_version}")
            )
            continue
        if new_version > old_version:
            missing = [v for v in range(old_version, new_version) if not registry.has_upcaster(event_type, v)]
            if missing:
                problems.append(
                    Problem(
                        event_type, "schema_version", f"v{new_version} has no upcaster from v{missing[0]}"
                    )
                )
            continue
        for what in _compare(data_schema(old, event_type), data_schema(new, event_type), old, new, "data"):
            problems.append(Problem(event_type, what.split(":", 1)[0], what.split(":", 1)[1].strip()))
    for what in _compare(_envelope_schema(old), _envelope_schema(new), old, new, "envelope"):
        problems.append(Problem("Envelope", what.split(":", 1)[0], what.split(":", 1)[1].strip()))
    return problems
