"""The start-up banner: URLs seen answering, the infrastructure, staff tokens, the simulator."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from services.devrunner.base import DEV_MODE_ENV, REPO_ROOT, say
from services.devrunner.child import Service
from services.devrunner.infra import Infra
from shared.auth.config import DEV_JWT_SECRET, JWT_SECRET_ENV
from shared.devtokens import DEMO_BRANCH, dev_secret, dev_tokens, render_shell
from shared.topology import DEFAULT_PORTS, port_env_var

TOKEN_TTL = timedelta(hours=12)
#: what the banner offers to open, first answering wins: an API's docs, else the service's page
PAGES = ("/docs", "/")


def token_lines(env: dict[str, str], running: list[Service]) -> list[str]:
    """The ready-made staff tokens (``shared.devtokens``, signed with the secret the children
    verify) and a curl to try one, against the running services' ports; nothing outside
    development mode."""
    if env.get(DEV_MODE_ENV) != "1":
        return [f"  {DEV_MODE_ENV} is not 1: no development tokens (sign your own with {JWT_SECRET_ENV})."]
    secret = dev_secret(env)
    now = datetime.now(UTC).replace(microsecond=0)
    tokens = dev_tokens(secret, ttl=TOKEN_TTL, now=now)
    urls = {s.name: s.base_url for s in running}
    shell = render_shell(
        tokens, expires=now + TOKEN_TTL, using_dev_secret=secret == DEV_JWT_SECRET, base_urls=urls
    )
    lines = ["  Staff tokens (paste the export lines into your shell; a token into the console's sign-in):"]
    lines += [f"    {line}" for line in shell.splitlines()]
    if "complaint" in urls:
        lines.append(
            f'  Try it now: curl -s -H "Authorization: Bearer $BC_TOKEN_LOBBY_B001" '
            f"{urls['complaint']}/branches/{DEMO_BRANCH}/complaints"
        )
    return lines


def simulator_line(running: list[Service]) -> str | None:
    """How to drive the running services with simulated branches: the simulator reads the same
    ``<NAME>_PORT`` variables, so moved ports are passed on."""
    ports = {s.name: s.port for s in running if s.name in DEFAULT_PORTS}
    if "reception" not in ports:
        return None
    moved = [f"{port_env_var(name)}={port}" for name, port in ports.items() if port != DEFAULT_PORTS[name]]
    python = Path(sys.executable)
    shown = python.relative_to(REPO_ROOT) if python.is_relative_to(REPO_ROOT) else python
    return " ".join([*moved, f"{shown} -m services.simulator --demo"])


@dataclass(frozen=True)
class Links:
    """The URLs the banner prints for one service, each one seen answering (None: it did not)."""

    #: what to open in a browser: an API's ``/docs``, else the service's own page (the console)
    page: str | None
    health: str | None
    metrics: str | None


async def probe_links(running: list[Service]) -> dict[str, Links]:
    """Ask each service which of its usual URLs answer, so the banner prints only those."""

    async def first(http: httpx.AsyncClient, base: str, paths: tuple[str, ...]) -> str | None:
        for path in paths:
            try:
                response = await http.get(base + path)
            except httpx.HTTPError:
                continue
            if response.status_code < 400:  # a redirect (a page's sign-in) answers too
                return base + path
        return None

    async def links(http: httpx.AsyncClient, s: Service) -> Links:
        page, health, metrics = await asyncio.gather(
            first(http, s.base_url, PAGES),
            first(http, s.base_url, ("/health",)),
            first(http, s.base_url, ("/metrics",)),
        )
        return Links(page, health, metrics)

    async with httpx.AsyncClient(timeout=5.0, follow_redirects=False) as http:
        found = await asyncio.gather(*(links(http, s) for s in running))
    return {s.name: link for s, link in zip(running, found, strict=True)}


def print_table(
    running: list[Service],
    infra: Infra,
    env: dict[str, str],
    links: dict[str, Links] | None = None,
) -> None:
    """The start-up banner: every URL in it is built from the ports in use and was seen answering
    (``links``, from :func:`probe_links`)."""
    links = links or {}
    rows = [("service", "open", "health", "metrics")]
    for s in running:
        link = links.get(s.name, Links(None, None, None))
        rows.append((s.name, link.page or "—", link.health or "—", link.metrics or "—"))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    print(flush=True)
    say("BranchCare is up")
    for row in rows:
        print("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    print()
    for label, value in [*infra.describe(), ("logs", f"{infra.log_dir}/<service>.log")]:
        print(f"  {label:<11}{value}")
    if env.get(DEV_MODE_ENV) == "1":
        print(f"\n  {DEV_MODE_ENV}=1: services without a key of their own use the PUBLIC development keys.")
    print()
    for line in token_lines(env, running):
        print(line)
    simulate = simulator_line(running)
    if simulate:
        print(f"\n  Simulated branches (in another terminal): {simulate}")
    print("\n  Ctrl-C stops everything.\n", flush=True)
