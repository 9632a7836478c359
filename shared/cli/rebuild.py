"""``branchcare rebuild SERVICE [READ_MODEL]``: rebuild a service's read model from its inputs.

``branchcare rebuild --list`` names every read model of every service and how it is rebuilt
(:mod:`shared.readmodels.catalogue`):

- store-fed read models (reception's lobby, complaint's board, follow-up's tasks, feedback's survey
  facts) are folded again from the service's own event store in one transaction holding
  ``EXCLUSIVE`` locks on ``events`` and the tables: commands wait (``--lock-timeout``) rather than
  interleave; readers keep reading the old rows until the commit;
- Kafka-fed read models (complaint's departures and customer aliases, feedback's complaint
  customers) are replayed from their topics through the writers the consumer calls, never through
  its reactions (no case opened, no survey requested or sent again); the running service need not
  stop;
- ``hq branch_kpis``: emptied, and a new consumer-group generation reads the topic from the
  beginning; a running HQ switches within a second. ``--wait`` follows it until it caught up;
- refused, with the reason and what to do instead: hqfeed's state (must go with an HQ rebuild),
  follow-up's complaint list (the rules' working state), feedback's SMS dispatch queue (state).

Each rebuilt table prints its rows and checksum before and after ("unchanged" or "REPAIRED").
``SERVICE`` alone rebuilds all of its rebuildable read models. When a topic lost events, rebuild
nothing: the relay republishes them from the store (``branchcare relay status``).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from shared.cli import _common
from shared.cli._db import NoDatabase, add_database_option, connect, has_store
from shared.migrations import apply_migrations
from shared.readmodels.catalogue import CATALOGUE, Entry, entries
from shared.readmodels.kafka_fed import replay_live, replays
from shared.readmodels.live import rebuild_live
from shared.readmodels.store_fed import rebuilders
from shared.topology import CONTEXTS


async def _rebuild_hq(conn: asyncpg.Connection, args: argparse.Namespace) -> int:
    from services.hq.rebuild import follow, request_rebuild

    await apply_migrations(conn, "hq", Path(__file__).parents[2] / "services" / "hq" / "migrations")
    generation = await request_rebuild(conn, requested_by="branchcare rebuild", now=datetime.now(UTC))
    print(f"hq: read model emptied; generation {generation} reads its topic from the beginning")
    if not args.wait:
        print("follow it with GET /hq/admin/rebuild, or run this command with --wait")
        return 0
    state = await follow(conn, generation, args.timeout, prefix="hq: ")
    if state is None:
        return 1
    print(f"hq: caught up: {state}")
    return 0


async def _rebuild_store(conn: asyncpg.Connection, entry: Entry, args: argparse.Namespace) -> int:
    [rebuilder] = [r for r in rebuilders() if (r.schema, r.name) == (entry.service, entry.name)]
    if not await has_store(conn, entry.service):
        print(f"{entry.service}: no event store in this database (has the service run?)", file=sys.stderr)
        return 1
    started = time.monotonic()
    changes = await rebuild_live(conn, rebuilder, lock_timeout_s=args.lock_timeout)
    print(f"{entry.service} {entry.name}: rebuilt from the event store in {time.monotonic() - started:.2f} s")
    for change in changes:
        print("  " + change.line())
    return 0


async def _rebuild_topics(conn: asyncpg.Connection, entry: Entry, args: argparse.Namespace) -> int:
    [replay] = [r for r in replays() if (r.schema, r.name) == (entry.service, entry.name)]
    servers = _common.bootstrap_servers(args)
    started = time.monotonic()
    result = await replay_live(conn, replay, servers, lock_timeout_s=args.lock_timeout)
    print(
        f"{entry.service} {entry.name}: replayed {', '.join(replay.topics)} in "
        f"{time.monotonic() - started:.2f} s: {result.read} events read, {result.applied} applied, "
        f"{result.undecodable} undecodable skipped (dead-lettered by the consumer)"
    )
    for change in result.changes:
        print("  " + change.line())
    return 0


def register(subcommands: Any) -> None:
    parser = _common.add_documented_command(
        subcommands,
        "rebuild",
        help="rebuild a service's read model from its inputs (--list: which, how)",
        doc=__doc__,
    )
    parser.add_argument(
        "service", nargs="?", choices=CONTEXTS, metavar="SERVICE", help=f"one of {', '.join(CONTEXTS)}"
    )
    parser.add_argument("read_model", nargs="?", metavar="READ_MODEL", help="default: all of the service's")
    parser.add_argument(
        "--list", action="store_true", help="list every service's read models and how each is rebuilt"
    )
    parser.add_argument("--wait", action="store_true", help="hq: follow the rebuild until it caught up")
    parser.add_argument(
        "--timeout", type=float, default=3600, help="hq: seconds to wait at most (default 3600)"
    )
    parser.add_argument(
        "--lock-timeout",
        type=float,
        default=10.0,
        help="seconds to wait for running commands' locks (default 10)",
    )
    add_database_option(parser)
    _common.add_kafka_option(parser)
    parser.set_defaults(handler=_rebuild)


def _print_list() -> None:
    for e in CATALOGUE:
        print(f"{e.service:<10} {e.name:<20} {e.kind:<10} {', '.join(e.tables)}")
        print(f"{'':<10} {e.how}")


async def _rebuild(args: argparse.Namespace) -> int:
    if args.list:
        _print_list()
        return 0
    if args.service is None:
        print("rebuild: name a SERVICE, or --list", file=sys.stderr)
        return 2
    known = entries(args.service)
    if args.read_model is not None:
        chosen = [e for e in known if e.name == args.read_model]
        if not chosen:
            names = ", ".join(e.name for e in known) or "none"
            print(f"{args.service} has no read model {args.read_model!r}; it has: {names}", file=sys.stderr)
            return 2
    else:
        chosen = known
    for entry in chosen:
        if entry.kind == "refused":
            print(f"{entry.service} {entry.name}: not rebuilt: {entry.how}", file=sys.stderr)
    todo = [e for e in chosen if e.kind != "refused"]
    if not todo:
        return 2
    try:
        conn = await connect(args.service, args.database_url)
    except (NoDatabase, OSError, asyncpg.PostgresError, TimeoutError) as exc:
        print(f"rebuild: {exc}", file=sys.stderr)
        return 1
    try:
        for entry in todo:
            code = await _run(conn, entry, args)
            if code:
                return code
        return 0
    finally:
        await conn.close()


async def _run(conn: asyncpg.Connection, entry: Entry, args: argparse.Namespace) -> int:
    try:
        if entry.kind == "generation":
            return await _rebuild_hq(conn, args)
        if entry.kind == "store":
            return await _rebuild_store(conn, entry, args)
        return await _rebuild_topics(conn, entry, args)
    except asyncpg.LockNotAvailableError:
        print(
            f"{entry.service} {entry.name}: commands held the tables longer than {args.lock_timeout:.0f} s; "
            "nothing changed, try again (or raise --lock-timeout)",
            file=sys.stderr,
        )
        return 1
    except _common.CliError as exc:
        print(f"rebuild: {exc}", file=sys.stderr)
        return 1
    except (OSError, TimeoutError) as exc:
        print(f"{entry.service} {entry.name}: {exc!r}; nothing changed", file=sys.stderr)
        return 1
