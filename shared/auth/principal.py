"""Who is acting: the verified identity a route receives, and its per-request branch check."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

ALL_BRANCHES = "*"


@dataclass
class BranchCheck:
    """Per request: did the route check the resource's branch? (see ``BranchCheckMiddleware``)."""

    action: str
    required: bool
    checked_branch: str | None = None

    @property
    def pending(self) -> bool:
        return self.required and self.checked_branch is None


@dataclass(frozen=True)
class Principal:
    """A verified staff member: id, roles, branches (or ``{"*"}`` for HQ-wide tokens), region.

    ``requires(action)`` hands routes a principal bound to the route's action; for routes whose
    branch is only known after loading the resource, call :meth:`check_branch` before acting on
    or returning it.
    """

    staff_id: str
    roles: frozenset[str]
    branches: frozenset[str]
    region: str | None = None
    action: str | None = field(default=None, compare=False)
    _check: BranchCheck | None = field(default=None, compare=False, repr=False)

    @property
    def all_branches(self) -> bool:
        return ALL_BRANCHES in self.branches

    def has_role(self, role: str) -> bool:
        return role in self.roles

    def bound_to(self, action: str, check: BranchCheck | None = None) -> Principal:
        if type(self) is not Principal:  # a subclass (a gateway's) keeps its class and fields
            return replace(self, action=action, _check=check)
        # a staff member's, built directly: ``dataclasses.replace`` walks the fields on every request
        return Principal(self.staff_id, self.roles, self.branches, self.region, action, check)

    def branch_filter(self) -> frozenset[str] | None:
        """For list queries across branches: the branch ids to restrict to, or None for all."""
        return None if self.all_branches else self.branches

    def check_branch(self, branch_id: str) -> None:
        """Raise 403 unless this principal may perform its bound action in ``branch_id``."""
        from shared.auth.permissions import authorize

        if self.action is None:
            raise RuntimeError("check_branch needs a principal from requires(action)")
        check = self._check
        if check is not None and check.checked_branch == branch_id and check.action == self.action:
            return  # this request's route already checked this branch for this action (same answer)
        authorize(self, self.action, branch_id)
        if self._check is not None:
            self._check.checked_branch = branch_id
