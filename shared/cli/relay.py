"""``branchcare relay status`` and ``branchcare relay republish``: the outbox relays, seen and
steered from the services' databases (no HTTP, no Kafka needed).

- ``status``: per service, the store's head position, how far the broker acknowledged, the
  backlog, the last check that the broker still holds it, and the last loss it repaired.
- ``republish --service S --from POSITION``: for a topic that lost data in a way no relay can see
  (e.g. a topic restored from an old backup), ask S's leading relay to publish again, in store
  order, every event from store position POSITION on. The request waits in
  ``relay_checkpoint.republish_from``; the leader takes it within ``VERIFY_SECONDS`` (10 s).
  Consumers drop what they already applied, so republishing too much is harmless.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg

from shared.cli import _common
from shared.cli._db import NoDatabase, add_database_option, add_service_argument, connect, has_store
from shared.topology import CONTEXTS, events_topic

_STATUS_SQL = """
SELECT (SELECT coalesce(max(position), 0) FROM events) AS head,
       (SELECT to_jsonb(c) FROM relay_checkpoint c WHERE topic = $1) AS checkpoint
"""

_BACKLOG_SQL = "SELECT count(*) FROM events WHERE (tx_id, position) > ($1::xid8, $2::bigint)"


def register(subcommands: Any) -> None:
    relay = _common.add_documented_command(
        subcommands, "relay", help="outbox relays: status, republish", doc=__doc__
    )
    actions = relay.add_subparsers(dest="action", metavar="ACTION")
    status = actions.add_parser(
        "status", help="store head, published position, backlog, last check per service"
    )
    status.add_argument("--service", choices=CONTEXTS, action="append", help="only these (repeatable)")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    add_database_option(status)
    status.set_defaults(handler=_status)
    again = actions.add_parser("republish", help="publish a service's events again from a store position")
    add_service_argument(again, flag=True)
    again.add_argument(
        "--from",
        dest="position",
        type=int,
        required=True,
        metavar="POSITION",
        help="the first store position to publish again (see `relay status`)",
    )
    again.add_argument("--wait", action="store_true", help="wait until the leading relay took the request")
    add_database_option(again)
    again.set_defaults(handler=_republish)


async def service_status(service: str, database_url: str | None) -> dict[str, Any]:
    """One service's relay, as the status table shows it."""
    conn = await connect(service, database_url)
    try:
        if not await has_store(conn, service):
            return {"service": service, "error": "no event store in this database"}
        row = await conn.fetchrow(_STATUS_SQL, events_topic(service))
        assert row is not None
        cp: dict[str, Any] = json.loads(row["checkpoint"]) if row["checkpoint"] else {}
        tx_id, position = int(cp.get("tx_id", 0)), int(cp.get("position", 0))
        backlog = await conn.fetchval(_BACKLOG_SQL, tx_id, position)
        return {
            "service": service,
            "topic": events_topic(service),
            "store_head": int(row["head"]),
            "published_position": position,
            "backlog": int(backlog),
            "updated_at": cp.get("updated_at"),
            "verified_at": cp.get("verified_at"),
            "verification": cp.get("verification"),
            "last_loss_at": cp.get("last_loss_at"),
            "republished_events": int(cp.get("republished_events") or 0),
            "republish_requested_from": cp.get("republish_from"),
        }
    finally:
        await conn.close()


async def _status(args: argparse.Namespace) -> int:
    rows: list[dict[str, Any]] = []
    for service in args.service or CONTEXTS:
        try:
            rows.append(await service_status(service, args.database_url))
        except (NoDatabase, OSError, asyncpg.PostgresError, TimeoutError) as exc:
            rows.append({"service": service, "error": str(exc) or repr(exc)})
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
    else:
        print(_table(rows))
    return 1 if any("error" in r for r in rows) else 0


def _table(rows: list[dict[str, Any]]) -> str:
    header = (
        "service",
        "store head",
        "published",
        "backlog",
        "last check",
        "check",
        "last loss",
        "republished",
    )
    lines = [header]
    for r in rows:
        if "error" in r:
            lines.append((r["service"], "-", "-", "-", "-", r["error"], "-", "-"))
            continue
        lines.append(
            (
                r["service"],
                str(r["store_head"]),
                str(r["published_position"]),
                str(r["backlog"]),
                _ago(r["verified_at"]),
                (r["verification"] or "never checked")
                + (
                    f" (republish from {r['republish_requested_from']} requested)"
                    if r["republish_requested_from"]
                    else ""
                ),
                _ago(r["last_loss_at"]),
                str(r["republished_events"]),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )


def _ago(stamp: str | None) -> str:
    if not stamp:
        return "never"
    seconds = (datetime.now(UTC) - datetime.fromisoformat(stamp)).total_seconds()
    return f"{seconds:.0f} s ago" if seconds < 120 else f"{seconds / 60:.0f} min ago"


async def _republish(args: argparse.Namespace) -> int:
    service, start = args.service, args.position
    try:
        conn = await connect(service, args.database_url)
    except (NoDatabase, OSError, asyncpg.PostgresError, TimeoutError) as exc:
        print(f"relay republish: {exc}", file=sys.stderr)
        return 1
    try:
        if not await has_store(conn, service):
            print(f"relay republish: {service} has no event store in this database", file=sys.stderr)
            return 1
        head = int(await conn.fetchval("SELECT coalesce(max(position), 0) FROM events"))
        if not 1 <= start <= head:
            print(
                f"relay republish: --from must be between 1 and the store head {head}, not {start}",
                file=sys.stderr,
            )
            return 2
        count = await conn.fetchval("SELECT count(*) FROM events WHERE position >= $1", start)
        await conn.execute(
            """INSERT INTO relay_checkpoint (topic, tx_id, position, republish_from) VALUES ($1, '0', 0, $2)
               ON CONFLICT (topic) DO UPDATE SET republish_from = $2""",
            events_topic(service),
            start,
        )
        print(
            f"{service}: asked the leading relay to publish {count} event(s) again, from store position "
            f"{start} on; consumers drop those they already applied"
        )
        if not args.wait:
            print("follow it with: branchcare relay status --service " + service)
            return 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            taken = await conn.fetchval(
                "SELECT republish_from IS NULL FROM relay_checkpoint WHERE topic = $1", events_topic(service)
            )
            if taken:
                print(f"{service}: the relay took the request")
                return 0
            await asyncio.sleep(0.5)
        print(
            f"{service}: no relay took the request within 60 s (is the service running?); it stays queued",
            file=sys.stderr,
        )
        return 1
    finally:
        await conn.close()
