"""Which region a branch belongs to: configuration, resolved at query time (no rebuild needed when
the mapping changes)."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

_REGION = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


class RegionsConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Regions:
    default_region: str = "unassigned"
    branches: dict[str, str] = field(default_factory=dict)
    #: (prefix, region), longest prefix first
    prefixes: tuple[tuple[str, str], ...] = ()
    patterns: tuple[re.Pattern[str], ...] = ()

    @classmethod
    def load(cls, path: Path | str) -> Regions:
        try:
            doc = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise RegionsConfigError(f"cannot read the regions file {path}: {exc}") from None
        return cls.from_dict(doc)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Regions:
        default = str(doc.get("default_region", "unassigned"))
        branches = {str(k): str(v) for k, v in dict(doc.get("branches", {})).items()}
        prefixes = tuple(
            sorted(
                ((str(p["prefix"]), str(p["region"])) for p in doc.get("prefix", [])),
                key=lambda item: -len(item[0]),
            )
        )
        patterns: list[re.Pattern[str]] = []
        for spec in doc.get("pattern", []):
            try:
                compiled = re.compile(str(spec["regex"]))
            except re.error as exc:
                raise RegionsConfigError(f"bad region pattern {spec.get('regex')!r}: {exc}") from None
            if "region" not in compiled.groupindex:
                raise RegionsConfigError(f"region pattern {compiled.pattern!r} needs a (?P<region>...) group")
            patterns.append(compiled)
        for region in [default, *branches.values(), *(r for _, r in prefixes)]:
            if not _REGION.match(region):
                raise RegionsConfigError(f"bad region name {region!r}: letters, digits, '_' and '-' only")
        return cls(default, branches, prefixes, tuple(patterns))

    def region_of(self, branch_id: str) -> str:
        return _resolve(self, branch_id)

    def group(self, branch_ids: Iterable[str]) -> dict[str, list[str]]:
        """Branches by region."""
        out: dict[str, list[str]] = {}
        for b in branch_ids:
            out.setdefault(self.region_of(b), []).append(b)
        return out

    def configured_regions(self) -> set[str]:
        """Regions named in the file (pattern-derived regions are only known from branch ids)."""
        return {self.default_region, *self.branches.values(), *(r for _, r in self.prefixes)}

    def __hash__(self) -> int:
        return id(self)


@lru_cache(maxsize=100_000)
def _resolve(regions: Regions, branch_id: str) -> str:
    explicit = regions.branches.get(branch_id)
    if explicit is not None:
        return explicit
    for prefix, region in regions.prefixes:
        if branch_id.startswith(prefix):
            return region
    for pattern in regions.patterns:
        m = pattern.search(branch_id)
        if m and m.group("region") and _REGION.match(m.group("region")):
            return m.group("region")
    return regions.default_region
