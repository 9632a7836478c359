"""``python -m shared.devtokens``: ready-made staff tokens for trying the API locally.

Development only: refuses to run unless ``BRANCHCARE_DEV_MODE=1``. Signs with
``BRANCHCARE_JWT_SECRET`` when set (so tokens match services started with it), else with the
public development secret the services also use in dev mode. Output is shell: ``eval "$(...)"``
exports ``BC_TOKEN_*`` variables.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shared.auth.config import DEV_JWT_SECRET, JWT_SECRET_ENV, MAX_LIFETIME
from shared.auth.tokens import issue_token
from shared.crypto import DEV_MODE_ENV, is_dev_mode
from shared.settings import key_environment, port_environment
from shared.topology import DEFAULT_PORTS, port_env_var

DEMO_BRANCH = "b001"
OTHER_BRANCH = "b002"
DEFAULT_TTL = timedelta(hours=12)


@dataclass(frozen=True)
class DevIdentity:
    var: str
    staff_id: str
    roles: tuple[str, ...]
    branches: tuple[str, ...]
    what: str


IDENTITIES: tuple[DevIdentity, ...] = (
    DevIdentity(
        "BC_TOKEN_COUNTER_B001", "cs-b001", ("counter_staff",), (DEMO_BRANCH,), "counter staff of b001"
    ),
    DevIdentity(
        "BC_TOKEN_LOBBY_B001", "lm-b001", ("lobby_manager",), (DEMO_BRANCH,), "lobby manager of b001"
    ),
    DevIdentity("BC_TOKEN_HEAD_B001", "bh-b001", ("branch_head",), (DEMO_BRANCH,), "branch head of b001"),
    DevIdentity(
        "BC_TOKEN_LOBBY_B002", "lm-b002", ("lobby_manager",), (OTHER_BRANCH,), "lobby manager of b002"
    ),
    DevIdentity("BC_TOKEN_HQ", "hq-analyst", ("hq_analyst",), ("*",), "HQ analyst (reads every branch)"),
    DevIdentity("BC_TOKEN_ADMIN", "admin", ("admin",), ("*",), "admin (audit, erasure)"),
)


def dev_secret(environ: Mapping[str, str] | None = None) -> str:
    env = key_environment() if environ is None else environ
    if not is_dev_mode(env):
        raise SystemExit(
            f"devtokens is for local development only: set {DEV_MODE_ENV}=1 "
            "(services started with it accept these tokens)"
        )
    return env.get(JWT_SECRET_ENV) or DEV_JWT_SECRET


def dev_tokens(secret: str, *, ttl: timedelta = DEFAULT_TTL, now: datetime | None = None) -> dict[str, str]:
    """``{variable name: token}`` for every demo identity (the dev runner can print these)."""
    return {
        ident.var: issue_token(ident.staff_id, ident.roles, ident.branches, ttl, secret, now=now)
        for ident in IDENTITIES
    }


def base_urls_from_env(environ: Mapping[str, str] | None = None, host: str = "127.0.0.1") -> dict[str, str]:
    """Each context's URL on ``host``: its ``<NAME>_PORT`` (as the dev runner moves it), else the
    default port."""
    env = port_environment() if environ is None else environ
    urls = {}
    for name, port in DEFAULT_PORTS.items():
        raw = env.get(port_env_var(name), "").strip()
        urls[name] = f"http://{host}:{int(raw) if raw.isdigit() else port}"
    return urls


def render_shell(
    tokens: Mapping[str, str],
    *,
    expires: datetime,
    using_dev_secret: bool,
    base_urls: Mapping[str, str] | None = None,
) -> str:
    """The export lines and a few curls to try them, against ``base_urls`` (service → URL; default:
    :func:`base_urls_from_env`). A service without a URL gets no curl."""
    urls = base_urls_from_env() if base_urls is None else base_urls
    secret_note = "the public development secret" if using_dev_secret else f"${JWT_SECRET_ENV}"
    lines = [
        f"# BranchCare dev tokens, valid until {expires.isoformat()} — signed with {secret_note}.",
        '# Load them into your shell:  eval "$(BRANCHCARE_DEV_MODE=1 python -m shared.devtokens)"',
    ]
    for ident in IDENTITIES:
        lines += [f"# {ident.what}  (staff id {ident.staff_id})", f"export {ident.var}='{tokens[ident.var]}'"]
    tries = []
    if "complaint" in urls:
        board = f"{urls['complaint']}/branches/{DEMO_BRANCH}/complaints"
        tries += [
            f'#   curl -s -H "Authorization: Bearer $BC_TOKEN_LOBBY_B001" {board}',
            f'#   curl -s -H "Authorization: Bearer $BC_TOKEN_LOBBY_B002" {board}',
        ]
    if "hq" in urls:
        tries.append(
            f'#   curl -s -H "Authorization: Bearer $BC_TOKEN_HQ" {urls["hq"]}/hq/branches/{DEMO_BRANCH}'
        )
    if tries:
        lines.append(
            "# Try them (b001's lobby manager: 200; b002's lobby manager on b001: 403; no token: 401):"
        )
        lines += tries
    lines.append("# In /docs, press Authorize and paste a token (without 'Bearer ').")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.devtokens", description=__doc__.splitlines()[0])
    parser.add_argument("--ttl-hours", type=float, default=DEFAULT_TTL.total_seconds() / 3600)
    parser.add_argument("--json", action="store_true", help="print {variable: token} as JSON")
    args = parser.parse_args(argv)
    ttl = timedelta(hours=args.ttl_hours)
    if not timedelta(0) < ttl <= MAX_LIFETIME:
        parser.error(f"--ttl-hours must be > 0 and at most {MAX_LIFETIME.total_seconds() / 3600:g}")
    secret = dev_secret()
    now = datetime.now(UTC).replace(microsecond=0)
    tokens = dev_tokens(secret, ttl=ttl, now=now)
    if args.json:
        print(json.dumps(tokens, indent=2))
    else:
        print(render_shell(tokens, expires=now + ttl, using_dev_secret=secret == DEV_JWT_SECRET))
    return 0


if __name__ == "__main__":
    sys.exit(main())
