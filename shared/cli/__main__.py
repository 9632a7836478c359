"""Entry point of ``branchcare`` (and ``python -m shared.cli``): discovers the command groups."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import pkgutil
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import shared.cli as package

#: what a command's ``set_defaults(handler=…)`` points at
Handler = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]


def build_parser() -> argparse.ArgumentParser:
    """One sub-command per module of ``shared.cli`` that has ``register``, in name order."""
    parser = argparse.ArgumentParser(prog="branchcare", description="BranchCare operator commands")
    groups = parser.add_subparsers(dest="group", metavar="COMMAND", required=True)
    for module_info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{module_info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(groups)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        print(f"branchcare {args.group}: choose a sub-command (--help lists them)", file=sys.stderr)
        return 2
    try:
        return asyncio.run(handler(args))
    except BrokenPipeError:  # `branchcare … | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit's flush
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
