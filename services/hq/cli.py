"""``python -m services.hq rebuild``: request a rebuild of HQ's read model from the command line.

It needs only DATABASE_URL: it empties the read model and bumps its generation; a running HQ
switches to the new generation within a second, a stopped one does at its next start. With
``--wait`` it follows the rebuild until the read model has caught up and prints the rate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from services.hq.rebuild import follow, request_rebuild
from shared.migrations import apply_migrations
from shared.settings import ToolSettings

_MIGRATIONS = Path(__file__).parent / "migrations"


async def _rebuild(dsn: str, wait: bool, timeout: float) -> int:
    conn = await asyncpg.connect(dsn, server_settings={"search_path": "hq"})
    try:
        await apply_migrations(conn, "hq", _MIGRATIONS)
        generation = await request_rebuild(conn, requested_by="cli", now=datetime.now(UTC))
        print(f"HQ read model emptied; generation {generation} rebuilds from the topics", flush=True)
        if not wait:
            return 0
        state = await follow(conn, generation, timeout)
        if state is None:
            return 1
        print(json.dumps(state, default=str, indent=2))
        return 0
    finally:
        await conn.close()


def rebuild_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.hq rebuild", description=__doc__)
    parser.add_argument("--wait", action="store_true", help="follow the rebuild until it has caught up")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait at most (default 3600)")
    args = parser.parse_args(argv)
    dsn = ToolSettings().database_url
    if not dsn:
        print("rebuild: DATABASE_URL is not set", file=sys.stderr)
        return 2
    return asyncio.run(_rebuild(dsn, args.wait, args.timeout))
