"""The reception catalogue: service lines, materials required per service type, phone ring limit.

Data, not code (``catalogue.toml``; ``RECEPTION_CATALOGUE_FILE`` points at a bank's own copy), and
validated on load so a misconfigured file fails at start-up instead of at the counter.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from services.reception.config import ReceptionSettings
from shared.contracts.reception import ServiceType
from shared.sla.policy import SlaPolicy, parse_duration

DEFAULT_FILE = Path(__file__).with_name("catalogue.toml")
MAX_LINES = 16  # a line is a Prometheus label: keep the set small and fixed
_LINE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_PREFIX = re.compile(r"^[A-Z]{1,2}$")
_MATERIAL = re.compile(r"^[a-z][a-z0-9_]{0,47}$")


class CatalogueError(ValueError):
    pass


@dataclass(frozen=True)
class Line:
    name: str
    prefix: str
    label: str
    service_types: tuple[ServiceType, ...]
    default_service_time: timedelta
    relationship_manager: bool = False
    wait_target: timedelta | None = None
    wait_breach: timedelta | None = None

    def ticket(self, number: int) -> str:
        """``A012``: prefix and at least three digits."""
        return f"{self.prefix}{number:03d}"


@dataclass(frozen=True)
class Catalogue:
    lines: Mapping[str, Line]
    materials: Mapping[str, str]
    requirements: Mapping[ServiceType, tuple[str, ...]]
    max_rings: int = 3
    _by_type: Mapping[ServiceType, str] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, path: Path | str | None = None) -> Catalogue:
        chosen = Path(path or ReceptionSettings().catalogue_file or DEFAULT_FILE)
        with chosen.open("rb") as handle:
            return cls.from_dict(tomllib.load(handle))

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Catalogue:
        lines = {name: _line(name, spec) for name, spec in doc.get("lines", {}).items()}
        if not lines or len(lines) > MAX_LINES:
            raise CatalogueError(f"the catalogue needs 1 to {MAX_LINES} lines, it has {len(lines)}")
        prefixes = [line.prefix for line in lines.values()]
        if len(set(prefixes)) != len(prefixes):
            raise CatalogueError(f"ticket prefixes must be unique per line: {sorted(prefixes)}")
        by_type: dict[ServiceType, str] = {}
        for line in lines.values():
            for service_type in line.service_types:
                if service_type in by_type:
                    raise CatalogueError(
                        f"{service_type} is on two lines: {by_type[service_type]}, {line.name}"
                    )
                by_type[service_type] = line.name
        missing = [t.value for t in ServiceType if t not in by_type]
        if missing:
            raise CatalogueError(f"no line serves {missing}")
        if sum(1 for line in lines.values() if line.relationship_manager) > 1:
            raise CatalogueError("at most one line may be the relationship managers' line")
        materials = {str(k): str(v) for k, v in doc.get("materials", {}).items()}
        for code in materials:
            if not _MATERIAL.match(code):
                raise CatalogueError(f"bad material code {code!r}")
        requirements: dict[ServiceType, tuple[str, ...]] = {}
        for name, codes in doc.get("requirements", {}).items():
            try:
                service_type = ServiceType(name)
            except ValueError:
                raise CatalogueError(f"requirements for unknown service type {name!r}") from None
            unknown = [c for c in codes if c not in materials]
            if unknown:
                raise CatalogueError(f"{name} requires unknown materials {unknown}")
            requirements[service_type] = tuple(codes)
        max_rings = int(doc.get("phone", {}).get("max_rings", 3))
        if not 1 <= max_rings <= 20:
            raise CatalogueError("phone.max_rings must be between 1 and 20")
        return cls(lines, materials, requirements, max_rings, by_type)

    def line_for(self, service_type: ServiceType, *, relationship_manager: bool = False) -> Line:
        """The line a need waits on; a customer routed to their relationship manager waits for them."""
        if relationship_manager:
            for line in self.lines.values():
                if line.relationship_manager:
                    return line
        return self.lines[self._by_type[service_type]]

    def required(self, service_type: ServiceType) -> tuple[str, ...]:
        return self.requirements.get(service_type, ())

    def wait_policy(self, line: str, base: SlaPolicy) -> SlaPolicy:
        """The line's wait SLA: the policy book's ``reception.wait`` unless the line sets its own."""
        spec = self.lines.get(line)
        if spec is None:  # a line removed from the catalogue since the ticket was issued
            return base
        breach = spec.wait_breach or base.duration
        if spec.wait_target is None:
            return replace(base, duration=breach)
        return replace(base, duration=breach, at_risk_fraction=spec.wait_target / breach)


def _line(name: str, spec: Mapping[str, Any]) -> Line:
    if not _LINE.match(name):
        raise CatalogueError(f"bad line name {name!r}: use [a-z0-9_], at most 32 characters")
    unknown = set(spec) - {
        "prefix", "label", "service_types", "default_service_minutes", "relationship_manager",
        "wait_target", "wait_breach",
    }  # fmt: skip
    if unknown:
        raise CatalogueError(f"line {name}: unknown settings {sorted(unknown)}")
    prefix = str(spec.get("prefix", ""))
    if not _PREFIX.match(prefix):
        raise CatalogueError(f"line {name}: prefix must be one or two capital letters")
    try:
        types = tuple(ServiceType(t) for t in spec.get("service_types", []))
    except ValueError as exc:
        raise CatalogueError(f"line {name}: {exc}") from None
    target = parse_duration(spec["wait_target"]) if "wait_target" in spec else None
    breach = parse_duration(spec["wait_breach"]) if "wait_breach" in spec else None
    if target is not None and breach is None:
        raise CatalogueError(f"line {name}: wait_target needs wait_breach too")
    if target is not None and breach is not None and not timedelta(0) < target < breach:
        raise CatalogueError(f"line {name}: wait_target must be shorter than wait_breach")
    minutes = float(spec.get("default_service_minutes", 5))
    if not 0 < minutes <= 240:
        raise CatalogueError(f"line {name}: default_service_minutes must be in (0, 240]")
    return Line(
        name=name,
        prefix=prefix,
        label=str(spec.get("label", name))[:200],
        service_types=types,
        default_service_time=timedelta(minutes=minutes),
        relationship_manager=bool(spec.get("relationship_manager", False)),
        wait_target=target,
        wait_breach=breach,
    )
