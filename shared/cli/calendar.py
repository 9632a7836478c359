"""``branchcare calendar import [NAME ...] [--check]``: regenerate the public holiday calendars.

A wrapper of ``shared.sla.calendar_import`` (the same arguments; see its docstring): it writes the
audited TOML files the SLA clock reads, never changing a day before today. Run it when a new
year's arrangement is published (China: usually November), review the diff, commit, deploy.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from shared.sla import calendar_import


def register(subcommands: Any) -> None:
    group = subcommands.add_parser("calendar", help="public holiday calendars of the SLA clock")
    commands = group.add_subparsers(dest="command", metavar="SUBCOMMAND")
    importer = commands.add_parser(
        "import", help="generate the CN / UK / US calendars from chinesecalendar and holidays"
    )
    calendar_import.build_parser(importer)
    importer.set_defaults(handler=import_command)


async def import_command(args: argparse.Namespace) -> int:
    # the libraries compute a few thousand days: off the event loop, though nothing else runs
    return await asyncio.to_thread(calendar_import.run, args)
