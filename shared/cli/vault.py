"""``branchcare vault invalid``: report (and erase) vault records nothing uses, or that are broken.

    branchcare vault invalid                          # the make run stack, retention 365 days
    branchcare vault invalid --retention-days 730 --database reception=postgresql://… \\
        --database complaint=postgresql://… …          # every store is searched for references
    branchcare vault invalid --erase                  # then erase them through reception's API

Erasing goes through ``DELETE /customers/{ref}/pii`` with an admin token (``--token-env``, default
``BC_TOKEN_ADMIN`` as ``make run`` prints it), so each one is audited under that person's name,
logged in the erasure log and announced as ``CustomerErased`` — as a customer's own request is.
Reception's address: ``--reception-url``, else ``RECEPTION_URL``, else ``127.0.0.1:$RECEPTION_PORT``.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from shared.backup.targets import DEFAULT_STATE_DIR, TargetError, parse_assignments, resolve
from shared.settings import ToolSettings, named_secret
from shared.topology import DEFAULT_PORTS


def register(subcommands: Any) -> None:
    group = subcommands.add_parser("vault", help="customer vault maintenance")
    commands = group.add_subparsers(dest="command", metavar="COMMAND")
    invalid = commands.add_parser("invalid", help="vault records unused past the retention period, or broken")
    invalid.add_argument("--retention-days", type=int, default=365, help="unused for this long (default 365)")
    invalid.add_argument("--database", action="append", default=[], metavar="SERVICE=URL")
    invalid.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    invalid.add_argument("--erase", action="store_true", help="erase every record listed (audited)")
    invalid.add_argument("--reception-url", help="reception's base URL (for --erase)")
    invalid.add_argument("--token-env", default="BC_TOKEN_ADMIN", help="variable holding an admin token")
    invalid.set_defaults(handler=invalid_command)


def _reception_url(explicit: str | None) -> str:
    if explicit:
        return explicit.rstrip("/")
    tools = ToolSettings()
    if env := tools.reception_url:
        return env.rstrip("/")
    port = tools.reception_port or str(DEFAULT_PORTS["reception"])
    return f"http://127.0.0.1:{port}"


async def invalid_command(args: argparse.Namespace) -> int:
    from services.reception.vault_hygiene import invalid_records, referenced_refs

    if args.retention_days < 30:
        print("branchcare: --retention-days must be at least 30", file=sys.stderr)
        return 2
    before = datetime.now(UTC) - timedelta(days=args.retention_days)
    try:
        targets = resolve(parse_assignments(args.database), Path(args.state_dir))
    except TargetError as exc:
        print(f"branchcare: {exc}", file=sys.stderr)
        return 1
    referenced: set[str] = set()
    found = None
    for target in targets:
        conn = await asyncpg.connect(target.url, timeout=10)
        try:
            for schema in target.schemas:
                referenced |= await referenced_refs(conn, schema)
            if "reception" in target.schemas:
                await conn.execute("SET search_path TO reception")
                found = await invalid_records(conn, referenced, before=before) if found is None else found
        finally:
            await conn.close()
    if found is None:
        print("branchcare: no reception database among the targets", file=sys.stderr)
        return 1
    print(f"vault records unused since {before:%Y-%m-%d} or broken: {len(found)}")
    for record in found:
        print(f"  {record.customer_ref}  {record.why:<20} registered {record.registered_at:%Y-%m-%d}")
    if not args.erase or not found:
        return 0
    return await _erase(found, args, before)


async def _erase(found: list[Any], args: argparse.Namespace, before: datetime) -> int:
    secret = named_secret(args.token_env)
    token = secret.get_secret_value() if secret is not None else ""
    if not token:
        print(f"branchcare: --erase needs an admin token in ${args.token_env}", file=sys.stderr)
        return 1
    base = _reception_url(args.reception_url)
    failures = 0
    async with httpx.AsyncClient(base_url=base, timeout=15) as http:
        for record in found:
            reason = f"invalid record ({record.why}), no use since {before:%Y-%m-%d}"
            response = await http.delete(
                f"/customers/{record.customer_ref}/pii",
                params={"reason": reason},
                headers={"Authorization": f"Bearer {token}"},
            )
            ok = response.status_code == 200
            failures += not ok
            print(f"  erase {record.customer_ref}: {'ok' if ok else f'HTTP {response.status_code}'}")
    print(f"erased {len(found) - failures} of {len(found)}")
    return 0 if failures == 0 else 1
