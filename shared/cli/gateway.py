"""``branchcare gateway token``: mint the bearer token an SMS / voice gateway sends with survey
answers and delivery reports (``shared.gateway_identity``). Reads the same secret the services
verify with (``BRANCHCARE_GATEWAY_JWT_SECRET``, else the service secret, else the staff secret);
prints the token alone on stdout, so it can be piped into the gateway's configuration."""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from typing import Any

from shared.auth.config import AuthConfigError
from shared.gateway_identity import MAX_GATEWAY_TOKEN_LIFETIME, gateway_key_from_env, issue_gateway_token


def register(subcommands: Any) -> None:
    group = subcommands.add_parser("gateway", help="SMS / voice gateway identities")
    actions = group.add_subparsers(dest="action", metavar="ACTION")
    token = actions.add_parser("token", help="print a gateway token (answers surveys, reports delivery)")
    token.add_argument("name", help="the gateway's name, e.g. sms-main (audited as gw:<name>)")
    token.add_argument(
        "--branch", action="append", dest="branches", metavar="ID",
        help="a branch whose surveys it carries (repeat); default: every branch",
    )  # fmt: skip
    token.add_argument(
        "--days", type=int, default=90, help=f"lifetime in days (at most {MAX_GATEWAY_TOKEN_LIFETIME.days})"
    )
    token.set_defaults(handler=mint)


async def mint(args: argparse.Namespace) -> int:
    try:
        key = gateway_key_from_env()
        value = issue_gateway_token(args.name, key, args.branches or ["*"], ttl=timedelta(days=args.days))
    except (AuthConfigError, ValueError) as exc:
        print(f"branchcare gateway token: {exc}", file=sys.stderr)
        return 2
    print(value)
    scope = ", ".join(args.branches) if args.branches else "every branch"
    print(f"gw:{args.name}, {scope}, valid {args.days} days", file=sys.stderr)
    return 0
