"""``branchcare rebuild SERVICE [READ_MODEL]``: rebuild a service's read model from its inputs.

Which read models exist and how each is rebuilt:

- ``hq branch_kpis`` (HQ's whole read model, fed from ``hqfeed.events.v1``): emptied, and a new
  consumer-group generation reads the topics from the beginning; a running HQ switches within a
  second (``services/hq/rebuild.py``). ``--wait`` follows it until it caught up.
- complaint, followup, feedback and reception keep their read models (board, tasks, surveys,
  lobby) in the command's own transaction, so they are never behind their store; their Kafka
  consumers are reactions whose effects are events in their own store, not read models. A
  rebuild of those tables from the store is not available yet: the command says so (exit 2)
  rather than pretending.

When a topic lost events, rebuild nothing: the relay republishes them from the store by itself
(``branchcare relay status``), or on request (``branchcare relay republish``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from shared.cli._db import NoDatabase, add_database_option, add_service_argument, connect
from shared.migrations import apply_migrations

Rebuilder = Callable[[asyncpg.Connection, argparse.Namespace], Awaitable[int]]


async def _rebuild_hq(conn: asyncpg.Connection, args: argparse.Namespace) -> int:
    from services.hq.rebuild import request_rebuild, status

    await apply_migrations(conn, "hq", Path(__file__).parents[2] / "services" / "hq" / "migrations")
    generation = await request_rebuild(conn, requested_by="branchcare rebuild", now=datetime.now(UTC))
    print(f"hq: read model emptied; generation {generation} reads its topic from the beginning")
    if not args.wait:
        print("follow it with GET /hq/admin/rebuild, or run this command with --wait")
        return 0
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        state = await status(conn)
        if state["generation"] != generation:
            print("hq: another rebuild was requested meanwhile", file=sys.stderr)
            return 1
        if not state["rebuilding"]:
            print(f"hq: caught up: {state}")
            return 0
        await asyncio.sleep(0.5)
    print(f"hq: still rebuilding after {args.timeout:.0f} s (is HQ running?)", file=sys.stderr)
    return 1


#: service → read model → how to rebuild it
REBUILDERS: dict[str, dict[str, Rebuilder]] = {"hq": {"branch_kpis": _rebuild_hq}}

_NOT_YET = (
    "{service}: its read models are written in each command's own transaction (never behind its "
    "store) and its Kafka consumers only react; rebuilding them from the store is not available yet"
)


def register(subcommands: Any) -> None:
    parser = subcommands.add_parser(
        "rebuild",
        help="rebuild a service's read model from its inputs",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_service_argument(parser)
    parser.add_argument("read_model", nargs="?", metavar="READ_MODEL", help="default: all of the service's")
    parser.add_argument("--wait", action="store_true", help="follow the rebuild until it caught up")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait at most (default 3600)")
    add_database_option(parser)
    parser.set_defaults(handler=_rebuild)


async def _rebuild(args: argparse.Namespace) -> int:
    models = REBUILDERS.get(args.service)
    if not models:
        print(_NOT_YET.format(service=args.service), file=sys.stderr)
        return 2
    if args.read_model is not None and args.read_model not in models:
        print(
            f"{args.service} has no read model {args.read_model!r}; it has: {', '.join(models)}",
            file=sys.stderr,
        )
        return 2
    try:
        conn = await connect(args.service, args.database_url)
    except (NoDatabase, OSError, asyncpg.PostgresError, TimeoutError) as exc:
        print(f"rebuild: {exc}", file=sys.stderr)
        return 1
    try:
        for name, rebuild in models.items():
            if args.read_model in (None, name):
                code = await rebuild(conn, args)
                if code:
                    return code
        return 0
    finally:
        await conn.close()
