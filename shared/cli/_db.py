"""Where the relay and rebuild commands find a service's database.

``--database-url`` if given, else ``<SERVICE>_DATABASE_URL`` (one database per service in
production), else ``DATABASE_URL``, else the running ``make run`` (:mod:`shared.cli._common`).
The connection's ``search_path`` is the service's schema, as the service's own is.
"""

from __future__ import annotations

import argparse

import asyncpg

from shared.cli import _common
from shared.settings import ToolSettings
from shared.topology import CONTEXTS


class NoDatabase(Exception):
    """No URL for the service: the message names the variables to set."""


def add_database_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        help="PostgreSQL URL of the service's database (default: <SERVICE>_DATABASE_URL, else DATABASE_URL)",
    )


def add_service_argument(parser: argparse.ArgumentParser, *, flag: bool = False) -> None:
    help_text = f"one of {', '.join(CONTEXTS)}"
    if flag:
        parser.add_argument("--service", choices=CONTEXTS, metavar="SERVICE", required=True, help=help_text)
    else:
        parser.add_argument("service", choices=CONTEXTS, metavar="SERVICE", help=help_text)


def database_url(service: str, explicit: str | None) -> str:
    """``--database-url``, else ``<SERVICE>_DATABASE_URL``, else what every command uses
    (``DATABASE_URL``, else the running ``make run``: :mod:`shared.cli._common`)."""
    url = explicit or getattr(ToolSettings(), f"{service}_database_url", None)
    if url:
        return url
    try:
        return _common.database_url(argparse.Namespace(database_url=None))
    except _common.CliError as exc:
        raise NoDatabase(f"{service}: set --database-url or {service.upper()}_DATABASE_URL; {exc}") from None


async def connect(service: str, explicit: str | None) -> asyncpg.Connection:
    return await asyncpg.connect(
        database_url(service, explicit),
        server_settings={"search_path": service, "application_name": "branchcare-cli"},
        timeout=10,
    )


async def has_store(conn: asyncpg.Connection, service: str) -> bool:
    """Whether the service's schema holds an event store (the service ran at least once)."""
    return bool(
        await conn.fetchval(
            """SELECT EXISTS (SELECT 1 FROM information_schema.tables
                              WHERE table_schema = $1 AND table_name = 'events')""",
            service,
        )
    )
