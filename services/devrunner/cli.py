"""``python -m services``: the command line, the signals, and the order of start and stop.

The only module of the runner that asks for the environment; the others are given it: the stack's
addresses (``ToolSettings``) and services' ports (``PortSettings``) it uses itself, and the
environment its services inherit (``inherited_environment``: they read their own settings from it)."""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

from services.devrunner.banner import print_table, probe_links
from services.devrunner.base import DEFAULT_STATE_DIR, StartupError, say
from services.devrunner.child import Service, stop_services, watch
from services.devrunner.discovery import discover_services
from services.devrunner.environment import child_env
from services.devrunner.infra import Infra
from services.devrunner.start import start_and_check
from shared.settings import ToolSettings, inherited_environment, port_environment

DESCRIPTION = "Dev runner: ``python -m services`` (what ``make run`` runs)."


async def run(args: argparse.Namespace) -> int:
    tools, environ = ToolSettings(), inherited_environment()
    available = discover_services()
    if args.only:
        chosen = [name.strip() for name in args.only.split(",") if name.strip()]
        unknown = [name for name in chosen if name not in available]
        if unknown:
            say(f"unknown service(s) {', '.join(unknown)}; available: {', '.join(available)}")
            return 2
    else:
        chosen = available

    loop = asyncio.get_running_loop()
    main_task = asyncio.current_task()
    assert main_task is not None
    force = asyncio.Event()
    state = {"stopping": False}

    def on_signal(sig: signal.Signals) -> None:
        if not state["stopping"]:
            state["stopping"] = True
            say(f"{sig.name}: shutting down (again to kill at once) ...")
            main_task.cancel()
        else:
            force.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)

    infra = Infra(state_dir=args.state_dir.resolve())
    running: list[Service] = []
    code = 0
    try:
        await infra.start(
            tools.database_url, tools.kafka_bootstrap_servers, embedded_allowed=not args.no_embedded
        )
        if not chosen:
            say("no services found (packages under services/ with a __main__.py)")
            env = child_env(infra, running, environ)
        else:
            env = await start_and_check(
                chosen, infra, running, args.startup_timeout, ports=port_environment(), environ=environ
            )
        print_table(running, infra, env, await probe_links(running))
        if running:
            code = await watch(running)
        else:
            await asyncio.Event().wait()  # infrastructure only: wait for Ctrl-C
    except asyncio.CancelledError:
        if not state["stopping"]:
            raise
        main_task.uncancel()
    except StartupError as exc:
        say(f"error: {exc}")
        code = 1
    finally:
        state["stopping"] = True
        await stop_services(running, force)
        infra.stop()
    say("stopped" if code == 0 else f"stopped (exit {code})")
    return code


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m services", description=DESCRIPTION)
    parser.add_argument("--only", metavar="NAME[,NAME]", help="start only these services")
    parser.add_argument(
        "--no-embedded",
        action="store_true",
        help="never start embedded PostgreSQL/Kafka: require DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=DEFAULT_STATE_DIR,
        metavar="DIR",
        help="embedded PostgreSQL data and logs (default: .devstack in the repository)",
    )
    parser.add_argument(
        "--startup-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long each service may take to answer /health (default 60)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(parse_args(argv)))
