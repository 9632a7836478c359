"""Branches → regions from configuration."""

from __future__ import annotations

import pytest

from services.hq.config import DEFAULT_REGIONS_FILE
from services.hq.regions import Regions, RegionsConfigError


def test_explicit_then_longest_prefix_then_pattern_then_default() -> None:
    regions = Regions.from_dict(
        {
            "default_region": "other",
            "branches": {"sh-001": "special"},
            "prefix": [{"prefix": "sh-", "region": "east"}, {"prefix": "sh-pd-", "region": "pudong"}],
            "pattern": [{"regex": "^(?P<region>r[0-9]{2})-"}],
        }
    )
    assert regions.region_of("sh-001") == "special"
    assert regions.region_of("sh-002") == "east" and regions.region_of("sh-pd-7") == "pudong"
    assert regions.region_of("r07-b0001") == "r07" and regions.region_of("x-1") == "other"
    assert regions.group(["sh-002", "r07-b1", "r07-b2"]) == {"east": ["sh-002"], "r07": ["r07-b1", "r07-b2"]}
    assert regions.configured_regions() == {"other", "special", "east", "pudong"}


def test_the_shipped_file_loads_and_places_the_simulators_branches() -> None:
    regions = Regions.load(DEFAULT_REGIONS_FILE)
    assert regions.region_of("r03-b0042") == "r03" and regions.region_of("b001") == "east"
    assert regions.region_of("anything-else") == "unassigned"


@pytest.mark.parametrize(
    "doc",
    [
        {"pattern": [{"regex": "^(r[0-9]+)"}]},  # no named group
        {"pattern": [{"regex": "("}]},
        {"branches": {"b1": "not a label!"}},
    ],
)
def test_bad_configuration_is_refused(doc: dict) -> None:
    with pytest.raises(RegionsConfigError):
        Regions.from_dict(doc)
