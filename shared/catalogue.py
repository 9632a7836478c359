"""The event catalogue: an AsyncAPI 3.0 document generated from the event registry.

Every event type registered by the contract modules (``shared/contracts/*``, and a service's own
events, if it has any) becomes one message with the JSON Schema of its payload (from the pydantic
model) and its ``schema_version``; the envelope around every payload is documented once
(``components.schemas.Envelope``), and each message's payload is "the envelope, with this ``type``,
this ``schema_version`` and this ``data``". Channels are the Kafka topics (``<context>.events.v1``,
keyed by ``branch_id``, with their headers) and their dead-letter topics; operations say who sends
and who receives what.

- ``GET /asyncapi.json`` on every service: its own topic (send), the topics it consumes (receive)
  and the dead-letter topics it writes (:func:`service_document`).
- ``docs/events/asyncapi.json``: the whole catalogue, committed. ``python -m shared.catalogue``
  prints a table of it, ``--write`` regenerates the file, ``--check`` fails when it is stale.
  ``tests/unit/test_event_catalogue.py`` fails on a backward-incompatible change to a contract
  (a removed or retyped field, a narrowed enum, a new required field, a removed event type) unless
  the event got a new ``schema_version`` *and* an upcaster from the old one
  (:func:`incompatibilities`, :mod:`shared.catalogue_compat`).

FastStream's own AsyncAPI generation cannot do this here: the subscribers decode raw bytes (the
projection runner validates envelopes itself) and the relay publishes untyped.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import importlib
import json
import pkgutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Response
from pydantic.json_schema import models_json_schema

import shared.contracts

# the compatibility check's names, for the catalogue's readers (console, tests)
from shared.catalogue_compat import data_schema as data_schema
from shared.catalogue_compat import incompatibilities as incompatibilities
from shared.catalogue_compat import resolve_ref as resolve_ref
from shared.envelope import Envelope
from shared.registry import REGISTRY, EventData, EventRegistry
from shared.topology import CONTEXTS, dlq_topic, events_topic

ASYNCAPI_VERSION = "3.0.0"
SNAPSHOT = Path(__file__).resolve().parents[1] / "docs" / "events" / "asyncapi.json"
KAFKA_BINDING = "0.5.0"
_REF = "#/components/schemas/{model}"

#: events of a shared contract module that several contexts publish on their own topics
SHARED_PUBLISHERS: Mapping[str, tuple[str, ...]] = {
    # the shared SLA clock's events, emitted by the deciders that run SLA deadlines
    "shared.contracts.sla": ("reception", "complaint", "followup"),
    # the vault's customer facts (contact updates, merges): reception publishes them
    "shared.contracts.customers": ("reception",),
}
#: the topics each context consumes (its projections and reactions); deploy/kafka/topics.md
SUBSCRIPTIONS: Mapping[str, tuple[str, ...]] = {
    "reception": (),
    "complaint": ("reception", "followup", "feedback"),
    "followup": ("reception", "complaint", "followup", "feedback"),
    "feedback": ("reception", "complaint"),
    "hqfeed": ("reception", "complaint", "followup", "feedback"),
    # headquarters reads only the branch side's contract (issue 16)
    "hq": ("hqfeed",),
}
EVENT_HEADERS = "EventHeaders"
DLQ_HEADERS = "DeadLetterHeaders"


def load_contracts() -> None:
    """Import every module that registers events: the contracts, and a service's own events."""
    for module in pkgutil.iter_modules(shared.contracts.__path__):
        importlib.import_module(f"shared.contracts.{module.name}")
    for context in CONTEXTS:
        for name in ("events", "contracts"):
            try:
                importlib.import_module(f"services.{context}.{name}")
            except ModuleNotFoundError as exc:
                if exc.name != f"services.{context}.{name}":
                    raise


def publishers(model: type[EventData]) -> tuple[str, ...]:
    """The contexts that publish ``model`` on their topic (none for events of tests or tools)."""
    module = model.__module__
    if module in SHARED_PUBLISHERS:
        return SHARED_PUBLISHERS[module]
    parts = module.split(".")
    if parts[:2] == ["shared", "contracts"] and len(parts) > 2 and parts[2] in CONTEXTS:
        return (parts[2],)
    if parts[0] == "services" and len(parts) > 1 and parts[1] in CONTEXTS:
        return (parts[1],)
    return ()


def catalogued_models(registry: EventRegistry = REGISTRY) -> dict[str, type[EventData]]:
    """Event type → model, for every event some context publishes."""
    return {t: m for t, m in sorted(registry.models().items()) if publishers(m)}


def _summary(model: type[Any]) -> str:
    doc = (model.__doc__ or "").strip()
    return " ".join(doc.split("\n\n")[0].split()) if doc else ""


def _headers() -> dict[str, Any]:
    return {
        EVENT_HEADERS: {
            "type": "object",
            "description": "Kafka record headers the outbox relay sets on every event.",
            "properties": {
                "event-type": {
                    "type": "string",
                    "description": "the envelope's type (route without parsing)",
                },
                "content-type": {"type": "string", "const": "application/json"},
            },
            "required": ["event-type", "content-type"],
        },
        DLQ_HEADERS: {
            "type": "object",
            "description": "Headers a consumer adds when it dead-letters a record (the value is unchanged).",
            "properties": {
                "x-dlq-reason": {"type": "string", "maxLength": 1000, "description": "why it was refused"},
                "x-original-topic": {"type": "string"},
                "x-original-partition": {"type": "string", "pattern": "^[0-9]+$"},
                "x-original-offset": {"type": "string", "pattern": "^[0-9]+$"},
                "x-consumer": {"type": "string", "description": "the consumer group that gave up"},
            },
            "required": ["x-dlq-reason", "x-original-topic", "x-original-partition", "x-original-offset"],
        },
    }


_KEY = {
    "type": "string",
    "description": "branch_id of the envelope: one branch's events stay in one partition, in order",
}


def build_document(registry: EventRegistry = REGISTRY) -> dict[str, Any]:
    """The whole catalogue: every context's topic and dead-letter topic, every event, every
    service's operations."""
    load_contracts()
    models = catalogued_models(registry)
    refs, defs = models_json_schema(
        [(Envelope, "validation"), *((m, "validation") for m in models.values())], ref_template=_REF
    )
    schemas: dict[str, Any] = {**defs.get("$defs", {}), **_headers()}
    envelope_ref = refs[(Envelope, "validation")]["$ref"]
    schemas[envelope_ref.rsplit("/", 1)[1]]["description"] = (
        "Every event, in the store and on Kafka. `data` is the payload of `type` at `schema_version`; "
        "consumers upcast older versions on read (shared.registry)."
    )
    messages: dict[str, Any] = {}
    for event_type, model in models.items():
        data_ref = refs[(model, "validation")]["$ref"]
        messages[event_type] = {
            "name": event_type,
            "title": f"{event_type} v{model.schema_version}",
            "summary": _summary(model) or event_type,
            "contentType": "application/json",
            "headers": {"$ref": _REF.format(model=EVENT_HEADERS)},
            "payload": {
                "allOf": [
                    {"$ref": envelope_ref},
                    {
                        "type": "object",
                        "properties": {
                            "type": {"const": event_type},
                            "schema_version": {"const": model.schema_version},
                            "data": {"$ref": data_ref},
                        },
                    },
                ]
            },
            "bindings": {"kafka": {"key": _KEY, "bindingVersion": KAFKA_BINDING}},
            "x-schema-version": model.schema_version,
            "x-published-by": list(publishers(model)),
        }
    messages["DeadLetter"] = {
        "name": "DeadLetter",
        "title": "A record a consumer could not process",
        "summary": "The original record's value and key, unchanged, with the reason in the headers.",
        "contentType": "application/octet-stream",
        "headers": {"$ref": _REF.format(model=DLQ_HEADERS)},
        "payload": {"type": "string", "description": "the original record value (usually an envelope)"},
        "bindings": {"kafka": {"key": _KEY, "bindingVersion": KAFKA_BINDING}},
    }
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for context in CONTEXTS:
        topic = events_topic(context)
        mine = [t for t, m in models.items() if context in publishers(m)]
        channels[topic] = {
            "address": topic,
            "title": f"{context} events",
            "description": f"Every event of the {context} context, in store order per branch.",
            "messages": {t: {"$ref": f"#/components/messages/{t}"} for t in mine},
            "bindings": {"kafka": {"topic": topic, "bindingVersion": KAFKA_BINDING}},
        }
        channels[dlq_topic(topic)] = {
            "address": dlq_topic(topic),
            "title": f"{context} dead letters",
            "description": f"Records of {topic} that a consumer dead-lettered (invalid, unknown, failing).",
            "messages": {"DeadLetter": {"$ref": "#/components/messages/DeadLetter"}},
            "bindings": {"kafka": {"topic": dlq_topic(topic), "bindingVersion": KAFKA_BINDING}},
        }
    for context in CONTEXTS:
        topic = events_topic(context)
        operations[f"{context}.publish"] = _operation("send", topic, channels[topic], context, "publishes")
        for source in SUBSCRIPTIONS.get(context, ()):
            src = events_topic(source)
            operations[f"{context}.receive.{source}"] = _operation(
                "receive", src, channels[src], context, "consumes"
            )
            operations[f"{context}.dead_letter.{source}"] = _operation(
                "send",
                dlq_topic(src),
                channels[dlq_topic(src)],
                context,
                "dead-letters what it cannot process of",
            )
    document: dict[str, Any] = {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "BranchCare events",
            "version": "",
            "description": (
                "The events every BranchCare context publishes on Kafka: one topic per context, keyed "
                "by branch_id, JSON envelopes (components.schemas.Envelope) whose `data` is the "
                "event's payload. Generated from the event registry by `python -m shared.catalogue`."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "kafka": {
                "host": "localhost:9092",
                "protocol": "kafka",
                "description": "the cluster of KAFKA_BOOTSTRAP_SERVERS",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": dict(sorted(schemas.items()))},
    }
    document["info"]["version"] = fingerprint(document)
    return document


def _operation(
    action: str, topic: str, channel: Mapping[str, Any], context: str, verb: str
) -> dict[str, Any]:
    return {
        "action": action,
        "title": f"{context} {verb} {topic}",
        "channel": {"$ref": f"#/channels/{topic}"},
        "messages": [{"$ref": f"#/channels/{topic}/messages/{name}"} for name in channel["messages"]],
        "x-service": context,
    }


def fingerprint(document: Mapping[str, Any]) -> str:
    """A version that changes exactly when a contract does: ``1.<first 12 hex of its hash>``."""
    content = {k: v for k, v in document.items() if k != "info"}
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
    return f"1.{digest[:12]}"


def service_document(service: str, document: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What one service sends and receives: its operations, their channels and what they use."""
    full = dict(document or build_document())
    operations = {k: v for k, v in full["operations"].items() if v.get("x-service") == service}
    channel_names = sorted({op["channel"]["$ref"].rsplit("/", 1)[1] for op in operations.values()})
    channels = {name: full["channels"][name] for name in channel_names}
    components = full["components"]
    messages = {
        ref.rsplit("/", 1)[1]
        for channel in channels.values()
        for ref in (m["$ref"] for m in channel["messages"].values())
    }
    kept_messages = {name: components["messages"][name] for name in sorted(messages)}
    schemas = _reachable(kept_messages, components["schemas"])
    info = dict(full["info"])
    info["title"] = f"BranchCare {service}: events it publishes and consumes"
    return {
        **full,
        "info": info,
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": kept_messages,
            "schemas": {k: components["schemas"][k] for k in sorted(schemas)},
        },
    }


def _reachable(start: Any, schemas: Mapping[str, Any]) -> set[str]:
    seen: set[str] = set()
    pending = [start]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                name = ref.rsplit("/", 1)[1]
                if name not in seen:
                    seen.add(name)
                    pending.append(schemas[name])
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return seen


# ------------------------------------------------------------------------------------------ CLI


def render(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def read_snapshot(path: Path = SNAPSHOT) -> dict[str, Any]:
    return dict(json.loads(path.read_text(encoding="utf-8")))


def table(document: Mapping[str, Any]) -> str:
    rows = [f"{'topic':<24} {'event types':>11}  {'consumed by'}", "-" * 72]
    for name, channel in document["channels"].items():
        readers = sorted(
            op["x-service"]
            for op in document["operations"].values()
            if op["action"] == "receive" and op["channel"]["$ref"].endswith(f"/{name}")
        )
        rows.append(f"{name:<24} {len(channel['messages']):>11}  {', '.join(readers) or '-'}")
    events = [m for m in document["components"]["messages"] if m != "DeadLetter"]
    rows.append(f"\n{len(events)} event types, version {document['info']['version']}")
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shared.catalogue", description="The AsyncAPI catalogue of every event."
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", action="store_true", help=f"regenerate {SNAPSHOT.name}")
    group.add_argument("--check", action="store_true", help="exit 1 if the committed snapshot is stale")
    group.add_argument("--json", action="store_true", help="print the document")
    parser.add_argument("--service", choices=CONTEXTS, help="only what this service sends and receives")
    parser.add_argument("--path", type=Path, default=SNAPSHOT)
    parser.add_argument(
        "--force",
        action="store_true",
        help="write despite incompatible changes (only for events no store or topic can hold yet)",
    )
    args = parser.parse_args(argv)
    document = build_document()
    if args.service:
        document = service_document(args.service, document)
    if args.json:
        sys.stdout.write(render(document))
        return 0
    if args.write or args.check:
        old = read_snapshot(args.path) if args.path.is_file() else None
        problems = incompatibilities(old, document) if old is not None else []
        for problem in problems:
            print(f"incompatible: {problem}", file=sys.stderr)
        if args.check:
            stale = old is None or render(old) != render(document)
            print(
                f"{args.path}: {'stale: run python -m shared.catalogue --write' if stale else 'up to date'}"
            )
            return 1 if stale or problems else 0
        if problems and not args.force:
            print("not written: give the event a new schema_version and an upcaster", file=sys.stderr)
            return 1
        args.path.parent.mkdir(parents=True, exist_ok=True)
        args.path.write_text(render(document), encoding="utf-8")
        print(f"wrote {args.path}")
    print(table(document))
    return 0


@functools.cache
def _served(service: str) -> bytes:
    return render(service_document(service)).encode()


def router(service: str) -> APIRouter:
    """``GET /asyncapi.json``: the service's part of the catalogue (public, like ``/openapi.json``)."""
    api = APIRouter(tags=["operations"])

    @api.get("/asyncapi.json", summary="AsyncAPI 3.0: the events this service publishes and consumes")
    async def asyncapi() -> Response:
        return Response(_served(service), media_type="application/json")

    return api


if __name__ == "__main__":
    raise SystemExit(main())
