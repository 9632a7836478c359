"""Authentication (signed bearer tokens) and authorization (one permission table) for every service.

See ``shared/SECURITY.md``. Routes use ``requires(action)``; apps call ``install_auth(app)``.
"""

from shared.auth.config import DEV_JWT_SECRET, LEEWAY, MAX_LIFETIME, AuthConfig, AuthConfigError
from shared.auth.dependencies import (
    BranchCheckMiddleware,
    current_principal,
    principal_metadata,
    requires,
    requires_on,
)
from shared.auth.errors import Forbidden, Unauthorized
from shared.auth.install import install_auth
from shared.auth.permissions import (
    ACTIONS,
    BRANCH_ROLES,
    HQ_ROLES,
    PERMISSIONS,
    ROLES,
    ActionSpec,
    Denial,
    Kind,
    Role,
    Scope,
    actions_of,
    authorize,
    is_allowed,
    why_denied,
)
from shared.auth.principal import ALL_BRANCHES, Principal
from shared.auth.routes import PUBLIC_PATHS, RouteAction, route_actions, unguarded_routes
from shared.auth.tokens import InvalidToken, decode_token, issue_token

__all__ = [
    "ACTIONS",
    "ALL_BRANCHES",
    "BRANCH_ROLES",
    "DEV_JWT_SECRET",
    "HQ_ROLES",
    "LEEWAY",
    "MAX_LIFETIME",
    "PERMISSIONS",
    "PUBLIC_PATHS",
    "ROLES",
    "ActionSpec",
    "AuthConfig",
    "AuthConfigError",
    "BranchCheckMiddleware",
    "Denial",
    "Forbidden",
    "InvalidToken",
    "Kind",
    "Principal",
    "Role",
    "RouteAction",
    "Scope",
    "Unauthorized",
    "actions_of",
    "authorize",
    "current_principal",
    "decode_token",
    "install_auth",
    "is_allowed",
    "issue_token",
    "principal_metadata",
    "requires",
    "requires_on",
    "route_actions",
    "unguarded_routes",
    "why_denied",
]
