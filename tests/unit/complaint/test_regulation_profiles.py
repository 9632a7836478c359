"""Profiles as data: loading, validation, which branch follows which profile."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from services.complaint.regulation import PROFILES_DIR, ProfileError, Regulation, load_profiles, parse_profile
from shared.contracts.complaint import ClockBasis, LimitUnit
from tests.unit.complaint.regulation_given import BOOK


def test_the_three_shipped_profiles_load() -> None:
    profiles = load_profiles(PROFILES_DIR)
    assert set(profiles) == {"cn-2020", "uk-fca", "us-cfpb"}
    cn = profiles["cn-2020"]
    decision = cn.clocks["decision"]
    assert [(s.to, s.needs) for s in decision.extensions] == [(30, "reason"), (60, "approval")]
    assert cn.max_representatives == 5 and cn.merge_repeats and cn.restart_on_new_facts and cn.has_review
    uk = profiles["uk-fca"]
    assert uk.clock_for_sla("complaint.regulatory", None).key == "final_response"  # type: ignore[union-attr]
    assert uk.clock_for_sla("complaint.regulatory", "e_money").unit is LimitUnit.business_days  # type: ignore[union-attr]
    assert [c.key for c in profiles["us-cfpb"].clocks_for(ClockBasis.receipt, None)] == [
        "initial_response",
        "final_response",
    ]


@pytest.mark.parametrize(
    ("branch", "profile"),
    [
        ("cn-sh-001", "cn-2020"),
        ("uk-ldn-001", "uk-fca"),
        ("uk-anything", "uk-fca"),
        ("us-x", "us-cfpb"),
        ("b1", "cn-2020"),
    ],
)
def test_a_branch_follows_its_configured_profile(branch: str, profile: str) -> None:
    regulation = Regulation.load(
        BOOK, branch_profiles={"uk-*": "uk-fca", "us-*": "us-cfpb", "uk-ldn-001": "uk-fca"}
    )
    assert regulation.profile_for_branch(branch).name == profile


def test_the_default_profile_is_configurable_and_must_exist() -> None:
    assert Regulation.load(BOOK, default_profile="us-cfpb").profile_for_branch("b1").name == "us-cfpb"
    with pytest.raises(ProfileError, match="unknown regulatory profile 'xx'"):
        Regulation.load(BOOK, branch_profiles={"b1": "xx"})


GOOD: dict[str, Any] = {
    "profile": {"name": "t"},
    "clocks": {"decision": {"sla": "complaint.regulatory", "limit": 10, "unit": "days"}},
}


def profile_with(**clock: Any) -> dict[str, Any]:
    return {**GOOD, "clocks": {"decision": {**GOOD["clocks"]["decision"], **clock}}}


@pytest.mark.parametrize(
    ("doc", "error"),
    [
        ({**GOOD, "rules": {"recusal": True, "speed": 3}}, "unknown settings ['speed']"),
        ({"profile": {"name": "t"}}, "at least one"),
        (profile_with(unit="weeks"), "weeks"),
        (profile_with(unit="business_days", pauses_on=["waiting_on_customer"]), "cannot pause"),
        (profile_with(extensions=[{"to": 5, "needs": "reason"}]), "limits must grow"),
        (profile_with(extensions=[{"to": 20, "needs": "a bribe"}]), "an extension needs one of"),
        (profile_with(met_by=["luck"]), "met_by"),
        (profile_with(limit=400), "1-365"),
        ({**GOOD, "rules": {"review_request_window_days": 30}}, "review window"),
        ({**GOOD, "rules": {"root_cause_required_for": ["always"]}}, "root_cause_required_for"),
        (
            {**GOOD, "clocks": {**GOOD["clocks"], "other": {"sla": "complaint.regulatory", "limit": 5}}},
            "both govern",
        ),
    ],
)
def test_a_profile_that_makes_no_sense_is_refused_at_start_up(doc: dict[str, Any], error: str) -> None:
    with pytest.raises(ProfileError, match=error.replace("[", r"\[").replace("]", r"\]")):
        parse_profile(doc)


def test_a_bank_can_bring_its_own_profile_folder(tmp_path: Any) -> None:
    text = (PROFILES_DIR / "cn-2020.toml").read_text(encoding="utf-8").replace("limit = 15", "limit = 10")
    (tmp_path / "cn-2020.toml").write_text(text, encoding="utf-8")
    regulation = Regulation.load(BOOK, directory=tmp_path)
    assert regulation.profile("cn-2020").clocks["decision"].limit == 10
    assert tomllib.loads(text)["profile"]["name"] == "cn-2020"
