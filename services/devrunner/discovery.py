"""Which services the dev runner starts and on which ports."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import services
from services.devrunner.base import StartupError
from shared.devstack import port_is_free
from shared.topology import CONTEXTS, DEFAULT_PORTS, port_env_var

EXTRA_PORTS_FROM = 8080


def discover_services() -> list[str]:
    """Service packages under ``services/`` with a ``__main__.py``: known contexts first."""
    root = Path(services.__file__).resolve().parent
    found = {
        path.parent.name
        for path in root.glob("*/__main__.py")
        if (path.parent / "__init__.py").exists()
        and path.parent.name.isidentifier()
        and not (path.parent / "NOT_A_SERVICE").exists()  # a tool, e.g. the simulator
    }
    known = [name for name in CONTEXTS if name in found]
    return known + sorted(found - set(known))


def service_port(name: str, taken: set[int], ports: Mapping[str, str]) -> int:
    """``<NAME>_PORT`` of ``ports`` (``shared.settings.PortSettings``), else the context's default
    port, else the first free port from 8080 up (a service that is not a bounded context, e.g. a
    web console)."""
    raw = ports.get(port_env_var(name))
    if raw:
        try:
            return int(raw)
        except ValueError:
            raise StartupError(f"{port_env_var(name)}={raw!r} is not a port number") from None
    if name in DEFAULT_PORTS:
        return DEFAULT_PORTS[name]
    port = EXTRA_PORTS_FROM
    while port in taken or port in DEFAULT_PORTS.values() or not port_is_free(port, "0.0.0.0"):
        port += 1
    return port
