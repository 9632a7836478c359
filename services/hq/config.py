"""HQ's own settings (environment ``HQ_*``), on top of the shared service settings, and the two
data files the regulatory report reads: customers per branch and the profiles' code tables."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_REGIONS_FILE = Path(__file__).parent / "regions.toml"
DEFAULT_CUSTOMERS_FILE = Path(__file__).parent / "customers.toml"
#: the complaint service's regulatory profiles (their ``[codes.*]`` tables); the same folder as
#: ``COMPLAINT_PROFILES_DIR`` when a bank ships its own
DEFAULT_PROFILES_DIR = Path(__file__).resolve().parents[1] / "complaint" / "profiles"


class HqConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HQ_", extra="ignore")

    #: branches → regions (see regions.toml); a bank points this at its own file
    regions_file: Path = DEFAULT_REGIONS_FILE
    #: the satisfaction target (share of 4–5 answers), 95 % by the service manual
    satisfaction_target: float = Field(default=0.95, ge=0, le=1)

    #: a category spike: complaints of one category from this many distinct branches ...
    crisis_min_branches: int = Field(default=5, ge=2)
    #: ... within a window of this length (by the complaints' receipt time)
    crisis_window_minutes: int = Field(default=60, ge=1)
    #: the window slides in steps of this size (windows are aligned to it); divides the window
    crisis_slot_minutes: int = Field(default=5, ge=1)
    #: categories watched for spikes (empty: every category)
    crisis_categories: list[str] = Field(default_factory=list)

    #: the same customer_ref complaining in this many distinct branches ...
    repeat_min_branches: int = Field(default=2, ge=2)
    #: ... within this many days
    repeat_window_days: int = Field(default=30, ge=1)

    #: alerts whose window ended longer ago than this are listed but not published (e.g. found
    #: again by a rebuild after a change of thresholds): nobody can act on them any more
    publish_max_age_hours: float = Field(default=48.0, gt=0)

    #: the consumer's batch (records per read-model transaction)
    max_batch: int = Field(default=20_000, ge=1, le=100_000)
    #: how often region-level gauges are recomputed from the read model
    metrics_refresh_seconds: float = Field(default=10.0, gt=0)
    #: how often the consumer looks for a rebuild requested elsewhere (CLI, another replica)
    generation_poll_seconds: float = Field(default=1.0, gt=0)

    #: customers per branch, for "complaints per 10 million customers" (see customers.toml)
    customers_file: Path = DEFAULT_CUSTOMERS_FILE
    #: the regulatory profiles whose code tables label business types and cause codes
    profiles_dir: Path = DEFAULT_PROFILES_DIR
    #: the profile of complaints that recorded none (cases from before profiles existed)
    default_profile: str = "cn-2020"

    def slots_per_window(self) -> int:
        return max(1, self.crisis_window_minutes // self.crisis_slot_minutes)


def load_config() -> HqConfig:
    config = HqConfig()
    report_data(config)  # refuse a bad customers file or profile folder at start-up
    return config


class ReportDataError(ValueError):
    """A customers file or a profile folder the report cannot use (refused at start-up)."""


def _read_toml(path: Path, what: str) -> dict[str, Any]:
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ReportDataError(f"cannot read the {what} {path}: {exc}") from None


def _count(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ReportDataError(f"{where}: a customer count is a whole number ≥ 0, not {value!r}")
    return value


@dataclass(frozen=True)
class CustomerCounts:
    """Customers per branch: an explicit branch, else the longest matching prefix, else the default.

    The report's denominator is the sum over the branches it covers. A customer of two branches is
    counted twice: a bank that knows better lists smaller per-branch figures."""

    default: int = 0
    branches: Mapping[str, int] = field(default_factory=dict)
    #: (prefix, customers), longest prefix first
    prefixes: tuple[tuple[str, int], ...] = ()

    @classmethod
    def load(cls, path: Path) -> CustomerCounts:
        return cls.from_dict(_read_toml(path, "customers file"))

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> CustomerCounts:
        unknown = set(doc) - {"default_customers", "branches", "prefix"}
        if unknown:
            raise ReportDataError(f"customers file: unknown keys {sorted(unknown)}")
        branches = {str(k): _count(v, f"[branches] {k}") for k, v in dict(doc.get("branches", {})).items()}
        prefixes = sorted(
            (
                (str(p["prefix"]), _count(p["customers"], f"[[prefix]] {p['prefix']}"))
                for p in doc.get("prefix", [])
            ),
            key=lambda item: -len(item[0]),
        )
        return cls(_count(doc.get("default_customers", 0), "default_customers"), branches, tuple(prefixes))

    def of(self, branch_id: str) -> int:
        explicit = self.branches.get(branch_id)
        if explicit is not None:
            return explicit
        return next((n for prefix, n in self.prefixes if branch_id.startswith(prefix)), self.default)

    def total(self, branch_ids: Iterable[str]) -> int:
        return sum(self.of(b) for b in branch_ids)


CodeStatus = Literal["known", "unknown", "unspecified"]
#: the profiles' code tables the report classifies by, and the report's name for each
CODE_TABLES: dict[str, str] = {"business_type": "business_types", "cause_code": "causes"}


@dataclass(frozen=True)
class CodeTables:
    """``[codes.*]`` of every regulatory profile (``profiles/*.toml`` of the complaint service):
    profile → table → code → label. A code is looked up in the complaint's own profile (or the
    default profile for a case that recorded none)."""

    tables: Mapping[str, Mapping[str, Mapping[str, str]]] = field(default_factory=dict)
    default_profile: str = "cn-2020"

    @classmethod
    def load(cls, directory: Path, default_profile: str = "cn-2020") -> CodeTables:
        tables: dict[str, dict[str, dict[str, str]]] = {}
        for path in sorted(Path(directory).glob("*.toml")):
            doc = _read_toml(path, "regulatory profile")
            name = doc.get("profile", {}).get("name")
            if not name:
                raise ReportDataError(f"{path}: [profile] needs a name")
            codes = doc.get("codes", {})
            tables[str(name)] = {
                str(t): {str(k): str(v) for k, v in dict(entries).items()} for t, entries in codes.items()
            }
        if not tables:
            raise ReportDataError(f"no regulatory profiles in {directory}")
        if default_profile not in tables:
            raise ReportDataError(f"default profile {default_profile!r} is not in {directory}")
        return cls(tables, default_profile)

    def lookup(self, profile: str | None, dimension: str, code: str | None) -> tuple[CodeStatus, str | None]:
        """(``known`` with its label | ``unknown``: not in the profile's table | ``unspecified``)."""
        if code is None:
            return "unspecified", None
        table = self.tables.get(profile or self.default_profile, {}).get(CODE_TABLES[dimension], {})
        label = table.get(code)
        return ("known", label) if label is not None else ("unknown", None)


@lru_cache(maxsize=8)
def customer_counts(path: Path) -> CustomerCounts:
    return CustomerCounts.load(path)


@lru_cache(maxsize=8)
def code_tables(directory: Path, default_profile: str) -> CodeTables:
    return CodeTables.load(directory, default_profile)


def report_data(config: HqConfig) -> tuple[CustomerCounts, CodeTables]:
    """The report's data files (read once per path; a bad file fails the first call, at start-up
    when :func:`load_config` is used)."""
    return customer_counts(config.customers_file), code_tables(config.profiles_dir, config.default_profile)
