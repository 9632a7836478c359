"""Which databases to back up, and which service schemas each holds.

Resolution, first that applies:

1. explicit ``--database SERVICE=URL`` options (production: one database per service);
2. the services' environment: ``<SERVICE>_DATABASE_URL`` per service, else ``DATABASE_URL``;
3. the ``make run`` stack (state directory ``--state-dir``, ``BRANCHCARE_STATE_DIR`` or ``.devstack``):
   the database the dev runner recorded in ``infra.json``, else the embedded server whose
   ``postmaster.pid`` is in ``<state dir>/pg``, database ``branchcare``.

Services that share a database (``make run``: one database, a schema per service) are dumped
together in one snapshot.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import shared
from shared.devstack.postgres import running_postmaster
from shared.settings import ToolSettings
from shared.topology import CONTEXTS

REPO_ROOT = Path(shared.__file__).resolve().parent.parent
DEFAULT_STATE_DIR = Path(ToolSettings().branchcare_state_dir or REPO_ROOT / ".devstack")
#: the dev runner's database (services/devrunner/infra.py DATABASE_NAME)
DEV_DATABASE = "branchcare"


class TargetError(RuntimeError):
    """No database could be found; the message says what to set."""


@dataclass(frozen=True)
class Database:
    """One database to dump: its URL and the service schemas in it."""

    url: str
    schemas: tuple[str, ...]

    @property
    def name(self) -> str:
        return urlsplit(self.url).path.lstrip("/") or "postgres"

    @property
    def server_url(self) -> str:
        """The same server's ``postgres`` database (to create and drop scratch databases)."""
        return urlunsplit(urlsplit(self.url)._replace(path="/postgres"))

    def describe(self) -> str:
        """The URL without credentials (for output)."""
        parts = urlsplit(self.url)
        host = parts.netloc.rpartition("@")[2]
        return urlunsplit(parts._replace(netloc=host))


def env_var(service: str) -> str:
    return f"{service.upper()}_DATABASE_URL"


def parse_assignments(values: list[str]) -> dict[str, str]:
    """``["reception=postgresql://…", …]`` → ``{"reception": "postgresql://…"}``."""
    out: dict[str, str] = {}
    for value in values:
        service, sep, url = value.partition("=")
        if not sep or service not in CONTEXTS or not url.startswith(("postgres://", "postgresql://")):
            raise TargetError(
                f"--database takes SERVICE=postgresql://…, SERVICE one of {', '.join(CONTEXTS)}"
            )
        out[service] = url
    return out


def dev_stack_url(state_dir: Path = DEFAULT_STATE_DIR) -> str | None:
    """The ``make run`` database: the address the dev runner recorded (``infra.json``) while it
    runs, else the embedded server still running on the state directory (``postmaster.pid``)."""
    try:
        infra = json.loads((state_dir / "infra.json").read_text())
        os.kill(int(infra["pid"]), 0)
        return str(infra["database_url"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    server = running_postmaster(state_dir / "pg")
    if server is None or server.port is None:
        return None
    return f"postgresql://postgres@127.0.0.1:{server.port}/{DEV_DATABASE}"


def resolve(explicit: dict[str, str], state_dir: Path = DEFAULT_STATE_DIR) -> list[Database]:
    """The databases of every service, grouped by URL (see the module docstring)."""
    urls: dict[str, str] = {}
    tools = ToolSettings()
    for service in CONTEXTS:
        url = explicit.get(service) or tools.database_url_for(service)
        if url:
            urls[service] = url
    if not urls:
        dev = dev_stack_url(state_dir)
        if dev is None:
            raise TargetError(
                "no database: give --database SERVICE=URL, set DATABASE_URL (or <SERVICE>_DATABASE_URL), "
                f"or start the stack with `make run` (looked for {state_dir / 'pg' / 'postmaster.pid'})"
            )
        urls = {service: dev for service in CONTEXTS}
    grouped: dict[str, list[str]] = {}
    for service, url in urls.items():
        grouped.setdefault(url, []).append(service)
    return [Database(url, tuple(schemas)) for url, schemas in grouped.items()]
