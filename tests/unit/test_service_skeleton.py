"""Every service is assembled one way (issue 17): ``build_service(settings)`` in its ``service.py``,
its parts built once by ``Service.components`` and read typed, never by a string key."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from shared.runner import Service, ServiceContext, components_of
from shared.topology import CONTEXTS

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", CONTEXTS)
def test_each_service_is_built_by_build_service_with_its_components(name: str) -> None:
    module = importlib.import_module(f"services.{name}.service")
    service = module.build_service()
    assert isinstance(service, Service) and service.name == name
    assert service.components is not None, f"{name}: its parts are built by Service.components"
    assert module.SERVICE.name == name


def test_no_service_module_keeps_its_parts_in_ctx_extras() -> None:
    """``ctx.extras`` is for shared mechanisms (private texts); the reception vault is the one
    service part still kept there (its own issue)."""
    offenders = []
    for path in (ROOT / "services").rglob("*.py"):
        if path.name.startswith("vault"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr == "extras":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, offenders


def test_components_are_read_as_the_type_the_service_declared() -> None:
    class Parts:
        pass

    parts = Parts()
    ctx = cast(ServiceContext, SimpleNamespace(name="x", components=parts))
    assert components_of(ctx, Parts) is parts
    with pytest.raises(RuntimeError, match="has no int"):
        components_of(ctx, int)
