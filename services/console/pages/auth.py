"""Sign-in with a pasted staff token, sign-out, and the landing redirect."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from services.console.i18n import DEFAULT_LANG, normalise_lang
from services.console.session import LANG_COOKIE, SESSION_COOKIE, T, current_session, verify
from services.console.web import home_of, render
from shared.auth import InvalidToken

router = APIRouter()

_REASONS = {"login.required", "login.expired", "login.signed_out"}


def _safe_next(value: str | None) -> str | None:
    """Only a path of this console (no scheme, no host, no protocol-relative ``//``)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return None
    return value


@router.get("/")
async def home(request: Request) -> Response:
    try:
        session = current_session(request)
    except Exception:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse(home_of(session), status_code=303)


@router.get("/login")
async def login_form(request: Request, t: T, reason: str | None = None, next: str | None = None) -> Response:
    message = t(reason) if reason in _REASONS else None
    return render(request, "login.html", t, None, message=message, next=_safe_next(next) or "", error=None)


@router.post("/login")
async def login(
    request: Request, t: T, token: Annotated[str, Form()] = "", next: Annotated[str, Form()] = ""
) -> Response:
    try:
        session = verify(token, request.app.state.auth_config)
    except InvalidToken as exc:
        return render(
            request,
            "login.html",
            t,
            None,
            status_code=401,
            message=None,
            next=_safe_next(next) or "",
            error=t("login.invalid", reason=str(exc)),
        )
    response = RedirectResponse(_safe_next(next) or home_of(session), status_code=303)
    max_age = max(0, int(session.expires_at.timestamp() - time.time()))
    response.set_cookie(
        SESSION_COOKIE,
        session.token,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=request.app.state.settings.cookie_secure,
        path="/",
    )
    return response


@router.get("/lang")
async def switch_language(request: Request, to: str = "zh", next: str | None = None) -> Response:
    """The language switch: remember the choice, back to the page it was pressed on."""
    lang = normalise_lang(to) or DEFAULT_LANG
    response = RedirectResponse(_safe_next(next) or "/", status_code=303)
    response.set_cookie(
        LANG_COOKIE,
        lang,
        max_age=365 * 86400,
        samesite="strict",
        secure=request.app.state.settings.cookie_secure,
    )
    return response


@router.post("/logout")
async def logout() -> Response:
    response = RedirectResponse("/login?reason=login.signed_out", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response
