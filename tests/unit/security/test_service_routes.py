"""Every route of every service declares exactly one action (or is public), and the audit trail
and ``GET /audit`` come with every service (``shared.runner.create_app`` installs both)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

import services
from shared.auth import route_actions, unguarded_routes
from shared.runner import Service, create_app
from shared.settings import ServiceSettings

SERVICE_DIRS = sorted(
    p.parent.name
    for p in Path(services.__file__).parent.glob("*/service.py")
    if not p.parent.name.startswith("zz_")
)


def load(name: str) -> Service:
    module = importlib.import_module(f"services.{name}.service")
    service: Service = module.SERVICE
    return service


@pytest.mark.parametrize("name", SERVICE_DIRS)
def test_every_route_declares_an_action(name: str) -> None:
    settings = ServiceSettings(
        database_url="postgresql://x@127.0.0.1:1/x", kafka_bootstrap_servers="127.0.0.1:1"
    )
    app = create_app(load(name), settings)
    holes = [f"{r.method} {r.path}" for r in unguarded_routes(app)]
    assert not holes, f"{name}: routes without an action: {holes}"
    assert all(r.action or r.public for r in route_actions(app) if r.method != "HEAD")


@pytest.mark.parametrize("name", SERVICE_DIRS)
def test_every_service_serves_its_audit_trail_to_admins(name: str) -> None:
    settings = ServiceSettings(
        database_url="postgresql://x@127.0.0.1:1/x", kafka_bootstrap_servers="127.0.0.1:1"
    )
    actions = {(r.method, r.path): r.action for r in route_actions(create_app(load(name), settings))}
    assert actions[("GET", "/audit")] == "audit.read"
