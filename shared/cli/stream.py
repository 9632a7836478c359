"""``branchcare stream show STREAM_ID``: one stream's events as the store holds them, masked.

Looks in every service's schema (or only ``--service``) for the stream, because a stream id
(``complaint-…``, ``visit-…``) names its aggregate, not always its service. Shows version, type,
schema version, occurred/recorded times, correlation and causation ids, the actor and the trace id
of the command that appended it (when tracing was on; see ``shared/tracing.py``); ``--data``
adds each event's data, masked (``shared.cli._mask``: text references, never words; numbers
masked). ``--json`` prints the whole envelopes, masked the same way.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import asyncpg

from shared import catalogue
from shared.cli._common import (
    CliError,
    add_database_option,
    add_output_option,
    connect_database,
    describe_dsn,
    fail,
    print_json,
    table,
)
from shared.cli._mask import masked_envelope
from shared.envelope import Envelope
from shared.eventstore import ENVELOPE_JSON
from shared.topology import CONTEXTS

COLUMNS = ("v", "type", "occurred_at", "recorded_at", "correlation_id", "causation_id", "actor", "trace_id")


def register(subcommands: Any) -> None:
    group = subcommands.add_parser("stream", help="inspect an event stream")
    commands = group.add_subparsers(dest="command", metavar="SUBCOMMAND")
    show = commands.add_parser("show", help="a stream's events: versions, types, times, correlation ids")
    show.add_argument("stream_id", metavar="STREAM_ID")
    show.add_argument("--service", choices=CONTEXTS, help="look only in this service's schema")
    show.add_argument("--data", action="store_true", help="also print each event's (masked) data")
    add_database_option(show)
    add_output_option(show)
    show.set_defaults(handler=show_command)


async def find_stream(
    conn: asyncpg.Connection, stream_id: str, schemas: list[str]
) -> dict[str, list[tuple[Envelope, str | None]]]:
    """The stream's events, each with its trace id if traced, per schema that holds it (normally
    exactly one)."""
    found: dict[str, list[tuple[Envelope, str | None]]] = {}
    for schema in schemas:
        if not await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f'"{schema}".events'):
            continue
        traced = await conn.fetchval(
            """SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = $1
               AND table_name = 'events' AND column_name = 'traceparent')""",
            schema,
        )
        rows = await conn.fetch(
            f"SELECT {ENVELOPE_JSON} AS json, {'traceparent' if traced else 'NULL::text AS traceparent'} "
            f'FROM "{schema}".events WHERE stream_id = $1 ORDER BY stream_version',
            stream_id,
        )
        if rows:
            found[schema] = [
                (Envelope.model_validate_json(r["json"]), _trace_id(r["traceparent"])) for r in rows
            ]
    return found


def _trace_id(traceparent: str | None) -> str | None:
    """The trace id of a W3C ``traceparent`` (``00-<trace id>-<span id>-<flags>``): look it up in
    the trace backend."""
    parts = (traceparent or "").split("-")
    return parts[1] if len(parts) == 4 else None


async def show_command(args: argparse.Namespace) -> int:
    try:
        conn, url = await connect_database(args)
    except CliError as exc:
        return fail(str(exc))
    try:
        found = await find_stream(conn, args.stream_id, [args.service] if args.service else list(CONTEXTS))
    finally:
        await conn.close()
    if not found:
        where = args.service or "any service"
        return fail(f"no stream {args.stream_id!r} in {where} (database {describe_dsn(url)})")
    catalogue.load_contracts()  # every event type, so old versions are upcast before showing
    shown = {
        schema: [{**masked_envelope(e), "trace_id": trace} for e, trace in events]
        for schema, events in found.items()
    }
    if args.json:
        print_json({"stream_id": args.stream_id, "services": shown})
        return 0
    for schema, events in shown.items():
        print(f"stream {args.stream_id} in {schema}: {len(events)} event(s), branch {events[0]['branch_id']}")
        rows = [
            {
                "v": e["stream_version"],
                "type": f"{e['type']} (v{e['schema_version']})",
                "occurred_at": _when(e["occurred_at"]),
                "recorded_at": _when(e["recorded_at"]),
                "correlation_id": e["correlation_id"],
                "causation_id": e["causation_id"],
                "actor": e["actor"],
                "trace_id": e["trace_id"],
            }
            for e in events
        ]
        print(table(rows, COLUMNS))
        if args.data:
            for e in events:
                print(f"\nv{e['stream_version']} {e['type']}:")
                print(json.dumps(e["data"], indent=2, ensure_ascii=False))
    return 0


def _when(iso: str) -> str:
    """``2026-12-07T09:30:00.123456Z`` → ``2026-12-07 09:30:00.123`` (UTC, as stored)."""
    return iso.replace("T", " ").removesuffix("Z")[:23]
