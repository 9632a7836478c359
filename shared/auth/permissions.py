"""Who may do what, in which branch: THE permission table of BranchCare (one module, on purpose).

An action is ``<context>.<verb>`` (``complaint.escalate``). Each has a kind and a scope:

- kind ``command`` changes something; ``read`` only shows it.
- scope ``branch``: the action happens in one branch (from the path, or from the loaded resource),
  and the token's ``branches`` must name it. HQ-wide tokens (``branches = ["*"]``, only for
  ``hq_analyst`` / ``admin``) pass the branch check for reads only, never for commands.
- scope ``global``: across branches (HQ reports, audit, erasure); needs an HQ-wide token.
- scope ``unscoped``: not about any branch's data (reference data such as the materials
  catalogue, a customer's survey-channel preference): the role check alone decides.

Routes declare their action once with ``requires(action)``; tests enumerate every route and look
the action up here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING

from shared.auth.errors import Forbidden

if TYPE_CHECKING:
    from shared.auth.principal import Principal


class Role(StrEnum):
    COUNTER_STAFF = "counter_staff"
    LOBBY_MANAGER = "lobby_manager"
    BRANCH_HEAD = "branch_head"
    HQ_ANALYST = "hq_analyst"
    ADMIN = "admin"


class Kind(StrEnum):
    COMMAND = "command"
    READ = "read"


class Scope(StrEnum):
    BRANCH = "branch"
    GLOBAL = "global"
    UNSCOPED = "unscoped"


ROLES: frozenset[str] = frozenset(Role)
#: roles that work in named branches: a token carrying one must list its branches explicitly
BRANCH_ROLES: frozenset[str] = frozenset({Role.COUNTER_STAFF, Role.LOBBY_MANAGER, Role.BRANCH_HEAD})
#: roles that may hold an HQ-wide token (branches = ["*"])
HQ_ROLES: frozenset[str] = frozenset({Role.HQ_ANALYST, Role.ADMIN})


@dataclass(frozen=True)
class ActionSpec:
    name: str
    kind: Kind
    scope: Scope
    roles: frozenset[str]
    description: str


_C, _R = Kind.COMMAND, Kind.READ
_B, _G, _U = Scope.BRANCH, Scope.GLOBAL, Scope.UNSCOPED
_FLOOR = frozenset({Role.COUNTER_STAFF, Role.LOBBY_MANAGER, Role.BRANCH_HEAD})
_MANAGERS = frozenset({Role.LOBBY_MANAGER, Role.BRANCH_HEAD})
_HEAD = frozenset({Role.BRANCH_HEAD})
_FLOOR_AND_HQ = _FLOOR | {Role.HQ_ANALYST}
_MANAGERS_AND_HQ = _MANAGERS | {Role.HQ_ANALYST}
_HQ = frozenset({Role.HQ_ANALYST})
_ADMIN = frozenset({Role.ADMIN})
_HQ_WIDE = frozenset(HQ_ROLES)
_EVERYONE = frozenset(Role)

# fmt: off
_TABLE: tuple[tuple[str, Kind, Scope, frozenset[str], str], ...] = (
    # ---- reception (issue 4) -------------------------------------------------------------------
    ("reception.visit.create",          _C, _B, _FLOOR,           "POST /branches/{b}/visits"),
    ("reception.visit.greet",           _C, _B, _FLOOR,           "POST /visits/{id}/greet"),
    ("reception.visit.confirm_need",    _C, _B, _FLOOR,           "POST /visits/{id}/confirm-need"),
    ("reception.visit.guide",           _C, _B, _FLOOR,           "POST /visits/{id}/guide"),
    ("reception.visit.check_documents", _C, _B, _FLOOR,           "POST /visits/{id}/check-documents"),
    ("reception.visit.return",          _C, _B, _FLOOR,           "POST /visits/{id}/return"),
    ("reception.visit.queue",           _C, _B, _FLOOR,           "POST /visits/{id}/queue"),
    ("reception.visit.call",            _C, _B, _FLOOR,           "POST .../call, .../call-next"),
    ("reception.visit.serve",           _C, _B, _FLOOR,           "POST /visits/{id}/serve"),
    ("reception.visit.leave",           _C, _B, _FLOOR,           "POST /visits/{id}/leave"),
    ("reception.visit.abandon",         _C, _B, _FLOOR,           "POST /visits/{id}/abandon"),
    ("reception.visit.no_show",         _C, _B, _FLOOR,           "POST /visits/{id}/no-show"),
    ("reception.visit.raise_complaint", _C, _B, _FLOOR,           "POST /visits/{id}/raise-complaint"),
    ("reception.visit.read",            _R, _B, _FLOOR_AND_HQ,    "GET /visits/{id}"),
    ("reception.visit.list",            _R, _B, _FLOOR_AND_HQ,    "GET /branches/{b}/visits"),
    ("reception.counter.manage",        _C, _B, _FLOOR,           "POST /branches/{b}/counters/{c}/{step}"),
    ("reception.call.create",           _C, _B, _FLOOR,           "POST /branches/{b}/calls"),
    ("reception.call.answer",           _C, _B, _FLOOR,           "POST /calls/{id}/answer"),
    ("reception.call.handle",           _C, _B, _FLOOR,           "POST /calls/{id}/purpose|route|resolve"),
    ("reception.call.end",              _C, _B, _FLOOR,           "POST /calls/{id}/end"),
    ("reception.call.read",             _R, _B, _FLOOR_AND_HQ,    "GET /calls/{id}"),
    ("reception.lobby.read",            _R, _B, _FLOOR_AND_HQ,    "GET /branches/{b}/lobby"),
    ("reception.stats.read",            _R, _B, _MANAGERS_AND_HQ, "GET /branches/{b}/visits/stats"),
    ("reception.catalogue.read",        _R, _U, _EVERYONE,        "GET /catalogue"),
    # ---- customer PII vault (reception-owned; issue 7) ------------------------------------------
    ("pii.register",                    _C, _B, _FLOOR,           "POST /branches/{b}/customers"),
    ("pii.read",                        _R, _B, _FLOOR,           "GET /branches/{b}/customers/{ref}/pii"),
    ("pii.erase",                       _C, _G, _ADMIN,           "DELETE /customers/{ref}/pii"),
    ("pii.update_contact",              _C, _B, _MANAGERS,        "POST .../customers/{ref}/contact"),
    ("pii.duplicates.read",             _R, _B, _HEAD,            "GET .../customers/{ref}/duplicates"),
    ("pii.merge",                       _C, _B, _HEAD,            "POST /branches/{b}/customers/{ref}/merge"),
    ("pii.merge.reverse",               _C, _B, _HEAD,            "POST .../customers/{ref}/merge-reversal"),
    # ---- complaint (issues 3 and 8) -------------------------------------------------------------
    ("complaint.create",                _C, _B, _FLOOR,           "POST /branches/{b}/complaints"),
    ("complaint.read",                  _R, _B, _FLOOR_AND_HQ,    "GET /complaints/{id} (+ explain), board"),
    ("complaint.acknowledge",           _C, _B, _MANAGERS,        "POST /complaints/{id}/acknowledge"),
    ("complaint.classify",              _C, _B, _MANAGERS,        "POST /complaints/{id}/classify"),
    ("complaint.investigate",           _C, _B, _MANAGERS,        "POST .../start-investigation"),
    ("complaint.propose",               _C, _B, _MANAGERS,        "POST /complaints/{id}/propose"),
    ("complaint.accept",                _C, _B, _MANAGERS,        "POST /complaints/{id}/accept"),
    ("complaint.reject",                _C, _B, _MANAGERS,        "POST /complaints/{id}/reject"),
    ("complaint.implement",             _C, _B, _MANAGERS,        "POST /complaints/{id}/implement"),
    ("complaint.answer",                _C, _B, _MANAGERS,        "POST /complaints/{id}/answer"),
    ("complaint.close",                 _C, _B, _MANAGERS,        "POST /complaints/{id}/close"),
    ("complaint.reopen",                _C, _B, _MANAGERS,        "POST /complaints/{id}/reopen"),
    ("complaint.customer_left",         _C, _B, _MANAGERS,        "POST /complaints/{id}/customer-left"),
    ("complaint.progress_update",       _C, _B, _MANAGERS,        "POST /complaints/{id}/progress-update"),
    ("complaint.hold",                  _C, _B, _MANAGERS,        "POST /complaints/{id}/hold (+ appraisal)"),
    ("complaint.resume",                _C, _B, _MANAGERS,        "POST /complaints/{id}/resume"),
    ("complaint.escalate",              _C, _B, _MANAGERS,        "POST /complaints/{id}/escalate"),
    ("complaint.merge",                 _C, _B, _MANAGERS,        "POST /complaints/{id}/merge"),
    ("complaint.assign",                _C, _B, _MANAGERS,        "POST .../assign (recusal rule)"),
    ("complaint.identify_staff",        _C, _B, _MANAGERS,        "POST .../identify-staff"),
    ("complaint.add_material",          _C, _B, _MANAGERS,        "POST .../new-material (clock restarts)"),
    ("complaint.extension.request",     _C, _B, _MANAGERS,        "POST .../extend, .../request-extension"),
    ("complaint.interim_response",      _C, _B, _MANAGERS,        "POST .../interim-response"),
    ("complaint.incident.read",         _R, _B, _FLOOR_AND_HQ,    "GET /incidents/{id} (visible branches)"),
    ("complaint.extension.approve",     _C, _B, _HEAD,            "POST .../approve- or deny-extension"),
    ("complaint.review.request",        _C, _B, _MANAGERS,        "POST .../request-review"),
    ("complaint.review.decide",         _C, _B, _HEAD,            "POST .../decide-review"),
    # ---- follow-up (issue 5) --------------------------------------------------------------------
    ("followup.read",                   _R, _B, _FLOOR_AND_HQ,    "GET /follow-ups/{id} + branch list"),
    ("followup.contact",                _C, _B, _FLOOR,           "POST /follow-ups/{id}/contact"),
    ("followup.complete",               _C, _B, _FLOOR,           "POST /follow-ups/{id}/complete"),
    ("followup.cancel",                 _C, _B, _MANAGERS,        "POST /follow-ups/{id}/cancel"),
    ("followup.reassign",               _C, _B, _MANAGERS,        "POST /follow-ups/{id}/reassign"),
    # ---- feedback (issue 5) ---------------------------------------------------------------------
    ("feedback.read",                   _R, _B, _MANAGERS_AND_HQ, "GET /surveys/{id}, surveys, satisfaction"),
    ("feedback.response.submit",        _C, _B, _FLOOR,           "POST /surveys/{id}/responses (by phone)"),
    ("feedback.delivery.report",        _C, _B, frozenset(),      "POST /surveys/{id}/delivery (gateway)"),
    ("feedback.preference.read",        _R, _U, _FLOOR,           "GET /customers/{ref}/survey-channel"),
    ("feedback.preference.write",       _C, _U, _FLOOR,           "PUT /customers/{ref}/survey-channel"),
    # ---- HQ (issues 6 and 8) --------------------------------------------------------------------
    ("hq.read",                         _R, _G, _HQ,              "GET /hq/* (branches, regions, reports)"),
    ("hq.status.read",                  _R, _G, _HQ_WIDE,         "GET /hq/status (read model generation)"),
    ("hq.admin.rebuild",                _C, _G, _ADMIN,           "POST /hq/admin/rebuild"),
    # ---- private texts (issue 15): every service that keeps staff's free text ---------------------
    ("text.read",                       _R, _B, _FLOOR,           "GET /texts/{id} (audited)"),
    # ---- audit (issue 7) ------------------------------------------------------------------------
    ("audit.read",                      _R, _G, _ADMIN,           "GET /audit (commands and PII reads)"),
)
# fmt: on

ACTIONS: Mapping[str, ActionSpec] = MappingProxyType(
    {name: ActionSpec(name, kind, scope, roles, doc) for name, kind, scope, roles, doc in _TABLE}
)
PERMISSIONS: Mapping[str, frozenset[str]] = MappingProxyType({a.name: a.roles for a in ACTIONS.values()})


def action_spec(action: str) -> ActionSpec:
    try:
        return ACTIONS[action]
    except KeyError:
        raise KeyError(f"unknown action {action!r}: add it to shared/auth/permissions.py") from None


def actions_of(role: str) -> frozenset[str]:
    return frozenset(a.name for a in ACTIONS.values() if role in a.roles)


@dataclass(frozen=True)
class Denial:
    reason: str  # bounded code: role | scope | branch | hq_command
    detail: str


def why_denied(principal: Principal, action: str, branch_id: str | None = None) -> Denial | None:
    """The reason ``principal`` may not perform ``action`` in ``branch_id``, or None if it may.

    With ``branch_id=None`` only the role (and, for global actions, the HQ-wide token) is checked.
    """
    spec = action_spec(action)
    if not principal.roles & spec.roles:
        return Denial("role", f"your roles ({', '.join(sorted(principal.roles))}) may not {action}")
    if spec.scope is Scope.GLOBAL:
        if not principal.all_branches:
            return Denial("scope", f"{action} needs an HQ-wide token (branches ['*'])")
        return None
    if spec.scope is Scope.UNSCOPED:
        return None
    if branch_id is None or branch_id in principal.branches:
        return None
    if principal.all_branches:
        if spec.kind is Kind.READ and principal.roles & spec.roles & HQ_ROLES:
            return None
        return Denial("hq_command", f"{action} is a branch command; HQ-wide tokens cannot issue it")
    return Denial("branch", f"branch {branch_id} is outside your branches")


def authorize(principal: Principal, action: str, branch_id: str | None = None) -> None:
    """Raise 403 with a reason unless ``principal`` may perform ``action`` in ``branch_id``.

    ``branch_id`` is required for branch-scoped actions (use ``principal.check_branch`` when it is
    only known after loading the resource) and ignored for global and unscoped ones.
    """
    if branch_id is None and action_spec(action).scope is Scope.BRANCH:
        raise ValueError(f"{action} is branch-scoped: authorize() needs the branch_id")
    denial = why_denied(principal, action, branch_id)
    if denial is not None:
        raise Forbidden(denial.reason, denial.detail, staff_id=principal.staff_id, action=action)


def authorize_role(principal: Principal, action: str) -> ActionSpec:
    """Raise 403 unless a role of the principal may perform ``action`` somewhere (branch unchecked)."""
    denial = why_denied(principal, action, None)
    if denial is not None:
        raise Forbidden(denial.reason, denial.detail, staff_id=principal.staff_id, action=action)
    return action_spec(action)


def is_allowed(principal: Principal, action: str, branch_id: str | None = None) -> bool:
    """Non-raising :func:`authorize` (no metric, no log): for tests and UI affordances."""
    return why_denied(principal, action, branch_id) is None


def validate_scope(roles: Iterable[str], branches: Iterable[str]) -> str | None:
    """Why a (roles, branches) pair can never be a valid token, or None. Used on issue and verify."""
    roles, branches = set(roles), set(branches)
    unknown = roles - ROLES
    if unknown:
        return f"unknown role(s): {', '.join(sorted(unknown))}"
    if "*" in branches:
        if len(branches) > 1:
            return "branches must be ['*'] or a list of branch ids, not both"
        if roles - HQ_ROLES:
            return "only hq_analyst and admin tokens may carry branches ['*']"
    return None
