"""Running a ``branchcare`` command inside the test's event loop and reading what it printed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.cli.__main__ import build_parser


async def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """``branchcare ARGV…`` as the console script runs it (same parser, same handler)."""
    capsys.readouterr()
    args = build_parser().parse_args(list(argv))
    code = await args.handler(args)
    return code, capsys.readouterr().out


async def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code, out = await run_cli(capsys, *argv, "--json")
    return code, json.loads(out)
