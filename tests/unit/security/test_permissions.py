"""The permission table: complete, least-privilege where the issue demands it, and ``authorize``
applied to every action × role × (own branch, other branch, HQ-wide token)."""

from __future__ import annotations

import re

import pytest
from prometheus_client import REGISTRY

from shared.auth import (
    ACTIONS,
    BRANCH_ROLES,
    HQ_ROLES,
    PERMISSIONS,
    ROLES,
    Forbidden,
    Kind,
    Principal,
    Role,
    Scope,
    actions_of,
    authorize,
    is_allowed,
    why_denied,
)
from shared.gateway_identity import GATEWAY_ACTIONS

NAMED_IN_THE_BRIEF = {
    "reception.visit.create",
    "reception.visit.call",
    "complaint.create",
    "complaint.acknowledge",
    "complaint.escalate",
    "complaint.extension.approve",
    "complaint.read",
    "followup.complete",
    "feedback.read",
    "hq.read",
    "hq.admin.rebuild",
    "complaint.interim_response",
    "complaint.identify_staff",
    "audit.read",
    "pii.read",
    "pii.erase",
}
OWN, OTHER = "b001", "b002"


def staff(role: str, branches: frozenset[str] = frozenset({OWN})) -> Principal:
    return Principal(f"{role}-1", frozenset({role}), branches)


def token_for(role: str) -> Principal:
    """What a correctly issued token of ``role`` looks like: HQ roles are HQ-wide."""
    return staff(role, frozenset({"*"}) if role in HQ_ROLES else frozenset({OWN}))


def test_every_action_is_well_named_and_has_a_role() -> None:
    for name, spec in ACTIONS.items():
        assert re.fullmatch(r"[a-z]+(\.[a-z_]+)+", name), name
        # a gateway-only action (delivery reports) has no staff role: only a gateway token does it
        assert spec.roles or name in GATEWAY_ACTIONS, f"{name} has no role"
        assert spec.roles <= ROLES
        assert PERMISSIONS[name] == spec.roles
        assert name.split(".")[0] in {
            "reception",
            "complaint",
            "followup",
            "feedback",
            "hq",
            "audit",
            "pii",
            "text",
        }


def test_the_actions_named_in_the_brief_exist() -> None:
    assert NAMED_IN_THE_BRIEF <= set(ACTIONS)


def test_every_role_can_do_something() -> None:
    for role in Role:
        assert actions_of(role), role


def test_hq_analysts_issue_no_commands_and_read_every_branch_read_except_raw_pii() -> None:
    mine = actions_of(Role.HQ_ANALYST)
    assert all(ACTIONS[a].kind is Kind.READ for a in mine)
    branch_reads = {a for a, s in ACTIONS.items() if s.kind is Kind.READ and s.scope is Scope.BRANCH}
    # raw PII, staff's free text, and the vault's duplicate search (it decrypts to find them)
    assert branch_reads - mine == {"pii.read", "text.read", "pii.duplicates.read"}
    assert "hq.read" in mine and "audit.read" not in mine


def test_admin_audits_and_erases_and_touches_no_branch_data() -> None:
    """Besides audit and erasure, admins operate HQ's read model (start a rebuild, watch its
    status): no branch's reports, cases or customers."""
    scoped = {a for a in actions_of(Role.ADMIN) if ACTIONS[a].scope is not Scope.UNSCOPED}
    assert scoped == {"audit.read", "pii.erase", "hq.status.read", "hq.admin.rebuild"}


def test_counter_staff_cannot_erase_audit_or_approve() -> None:
    mine = actions_of(Role.COUNTER_STAFF)
    assert not mine & {
        "pii.erase",
        "audit.read",
        "complaint.extension.approve",
        "hq.read",
        "complaint.escalate",
    }


def test_only_branch_heads_approve_extensions_and_decide_reviews() -> None:
    assert PERMISSIONS["complaint.extension.approve"] == {Role.BRANCH_HEAD}
    assert PERMISSIONS["complaint.review.decide"] == {Role.BRANCH_HEAD}


def test_global_actions_belong_to_hq_roles_only() -> None:
    """A branch role holding a global action would reach across branches."""
    for name, spec in ACTIONS.items():
        if spec.scope is Scope.GLOBAL:
            assert spec.roles <= HQ_ROLES, name


def test_unscoped_actions_hold_no_branch_data() -> None:
    """Reviewed one by one: reference data and customer-keyed preferences, nothing per branch."""
    unscoped = {a for a, s in ACTIONS.items() if s.scope is Scope.UNSCOPED}
    assert unscoped == {"reception.catalogue.read", "feedback.preference.read", "feedback.preference.write"}


def test_branch_roles_are_nested_counter_within_lobby_within_head() -> None:
    counter, lobby, head = (actions_of(r) for r in (Role.COUNTER_STAFF, Role.LOBBY_MANAGER, Role.BRANCH_HEAD))
    assert counter <= lobby <= head
    assert not any(ACTIONS[a].scope is Scope.GLOBAL for a in head)
    assert set(BRANCH_ROLES) == {Role.COUNTER_STAFF, Role.LOBBY_MANAGER, Role.BRANCH_HEAD}


def expected(role: str, action: str, branch: str) -> bool:
    """The rule of issue 7, stated independently of the implementation."""
    spec = ACTIONS[action]
    if role not in spec.roles:
        return False
    if spec.scope is Scope.GLOBAL:
        return role in HQ_ROLES
    if spec.scope is Scope.UNSCOPED:
        return True
    if role in HQ_ROLES:  # HQ-wide token: reads anywhere, never commands
        return spec.kind is Kind.READ
    return branch == OWN


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_every_action_role_and_branch(action: str) -> None:
    for role in Role:
        principal = token_for(role)
        for branch in (OWN, OTHER):
            allowed = expected(role, action, branch)
            assert is_allowed(principal, action, branch) is allowed, (role, action, branch)
            if allowed:
                authorize(principal, action, branch)
            else:
                with pytest.raises(Forbidden) as info:
                    authorize(principal, action, branch)
                assert info.value.status_code == 403 and info.value.detail


def test_the_reason_says_what_is_missing() -> None:
    denial = why_denied(staff(Role.COUNTER_STAFF), "pii.erase")
    assert denial is not None and denial.reason == "role" and "pii.erase" in denial.detail
    denial = why_denied(staff(Role.LOBBY_MANAGER), "complaint.escalate", OTHER)
    assert denial is not None and denial.reason == "branch" and OTHER in denial.detail


def test_a_multi_branch_token_acts_in_each_of_its_branches_only() -> None:
    principal = staff(Role.LOBBY_MANAGER, frozenset({"b001", "b007"}))
    assert is_allowed(principal, "complaint.escalate", "b007")
    assert not is_allowed(principal, "complaint.escalate", "b002")


def test_an_hq_analyst_with_a_branch_list_is_not_hq_wide() -> None:
    regional = staff(Role.HQ_ANALYST, frozenset({"b001"}))
    assert is_allowed(regional, "complaint.read", "b001")
    assert not is_allowed(regional, "complaint.read", "b002")
    assert not is_allowed(regional, "hq.read")


def test_a_wildcard_never_turns_a_command_into_an_allowed_one() -> None:
    # cannot come from a verified token (validate_scope refuses it), checked here anyway
    forged = Principal("x", frozenset({Role.LOBBY_MANAGER, Role.HQ_ANALYST}), frozenset({"*"}))
    denial = why_denied(forged, "complaint.escalate", "b001")
    assert denial is not None and denial.reason == "hq_command"
    assert is_allowed(forged, "complaint.read", "b001")


def test_branch_actions_need_a_branch_and_unknown_actions_fail_loudly() -> None:
    with pytest.raises(ValueError, match="branch_id"):
        authorize(staff(Role.LOBBY_MANAGER), "complaint.escalate")
    with pytest.raises(KeyError, match="unknown action"):
        authorize(staff(Role.LOBBY_MANAGER), "complaint.delete", OWN)


def test_check_branch_needs_a_bound_action() -> None:
    with pytest.raises(RuntimeError, match="requires"):
        staff(Role.LOBBY_MANAGER).check_branch(OWN)
    staff(Role.LOBBY_MANAGER).bound_to("complaint.read").check_branch(OWN)
    with pytest.raises(Forbidden):
        staff(Role.LOBBY_MANAGER).bound_to("complaint.read").check_branch(OTHER)


def test_a_branch_checked_once_per_request_is_not_authorized_again(monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.auth import permissions
    from shared.auth.principal import BranchCheck

    calls: list[str | None] = []
    real = permissions.authorize

    def counted(principal: Principal, action: str, branch_id: str | None = None) -> None:
        calls.append(branch_id)
        real(principal, action, branch_id)

    monkeypatch.setattr(permissions, "authorize", counted)
    check = BranchCheck(action="complaint.read", required=True)
    bound = staff(Role.LOBBY_MANAGER).bound_to("complaint.read", check)
    bound.check_branch(OWN)
    bound.check_branch(OWN)  # the handler's check after the route's: the same answer
    assert calls == [OWN] and check.checked_branch == OWN
    with pytest.raises(Forbidden):
        bound.check_branch(OTHER)  # another branch is checked as ever
    assert calls == [OWN, OTHER]


def _rejections(reason: str) -> float:
    value = REGISTRY.get_sample_value("branchcare_auth_rejections_total", {"status": "403", "reason": reason})
    return value or 0.0


def test_denials_are_counted_but_is_allowed_is_silent() -> None:
    before = _rejections("branch")
    assert not is_allowed(staff(Role.LOBBY_MANAGER), "complaint.read", OTHER)
    assert _rejections("branch") == before
    with pytest.raises(Forbidden):
        authorize(staff(Role.LOBBY_MANAGER), "complaint.read", OTHER)
    assert _rejections("branch") == before + 1
