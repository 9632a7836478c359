"""Who is signed in: the staff token in an HttpOnly, SameSite=Strict cookie, verified on every request.

The console keeps no session store: the cookie holds the staff member's own signed token (the one
the dev runner prints, or the bank's identity provider issues), verified with
``shared.auth.decode_token`` on every request exactly as the services verify it. What a page shows
and which buttons it offers come from ``shared.auth.is_allowed`` over the same permission table
the services enforce — the console has no permission of its own and no back door.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

import jwt
from fastapi import Depends, Request

from services.console.i18n import DEFAULT_LANG, Translator, normalise_lang
from shared.auth import AuthConfig, InvalidToken, Principal, decode_token, is_allowed, why_denied

SESSION_COOKIE = "bc_session"
LANG_COOKIE = "bc_lang"


class NeedsSignIn(Exception):
    """No valid session: the page redirects to the sign-in form (``reason`` is a message key)."""

    def __init__(self, reason: str = "login.required") -> None:
        super().__init__(reason)
        self.reason = reason


class Denied(Exception):
    """The signed-in staff member may not see or do this (403 page or banner).

    ``reason`` is the permission table's bounded code (role, scope, branch, hq_command)."""

    def __init__(self, detail: str, reason: str = "", branch_id: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.reason = reason
        self.branch_id = branch_id

    def message(self, t: Translator) -> str:
        """The refusal in the page's language (the table's English detail as a fallback)."""
        key = f"deny.{self.reason}"
        text = t(key, branch=self.branch_id or "")
        return text if text != key else t("error.forbidden", detail=self.detail)


@dataclass(frozen=True)
class Session:
    token: str
    principal: Principal
    expires_at: datetime

    @property
    def staff_id(self) -> str:
        return self.principal.staff_id

    @property
    def is_hq_wide(self) -> bool:
        return self.principal.all_branches

    @property
    def branches(self) -> list[str]:
        return sorted(b for b in self.principal.branches if b != "*")

    def can(self, action: str, branch_id: str | None = None) -> bool:
        return is_allowed(self.principal, action, branch_id)

    def require(self, action: str, branch_id: str | None = None) -> None:
        denial = why_denied(self.principal, action, branch_id)
        if denial is not None:
            raise Denied(denial.detail, denial.reason, branch_id)

    @property
    def expired(self) -> bool:
        return datetime.now(UTC) >= self.expires_at


def verify(token: str, config: AuthConfig) -> Session:
    """Verify a pasted or cookie token; raises :class:`InvalidToken` with the reason."""
    token = token.strip().removeprefix("Bearer ").strip()
    principal = decode_token(token, config.secret, leeway=config.leeway, max_lifetime=config.max_lifetime)
    claims = jwt.decode(token, options={"verify_signature": False})  # already verified above
    return Session(token=token, principal=principal, expires_at=datetime.fromtimestamp(claims["exp"], UTC))


def current_session(request: Request) -> Session:
    """FastAPI dependency: the verified session, or :class:`NeedsSignIn`."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise NeedsSignIn("login.required")
    try:
        session = verify(token, request.app.state.auth_config)
    except InvalidToken as exc:
        raise NeedsSignIn("login.expired" if exc.reason == "expired" else "login.required") from None
    request.state.session = session
    return session


def language(request: Request) -> str:
    """``?lang=`` (the switch link), else the language cookie, else Chinese."""
    return (
        normalise_lang(request.query_params.get("lang"))
        or normalise_lang(request.cookies.get(LANG_COOKIE))
        or DEFAULT_LANG
    )


def translator(request: Request) -> Translator:
    return Translator(language(request))


Staff = Annotated[Session, Depends(current_session)]
T = Annotated[Translator, Depends(translator)]
