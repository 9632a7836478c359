"""The console's FastAPI app: pages, static files, sign-in, error pages; ``main()`` serves it."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from urllib.parse import quote

import httpx
import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import PlainTextResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from services.console.backend import Backend
from services.console.i18n import Translator
from services.console.pages import auth, catalogue, complaints, desk, followups, hq, lobby, satisfaction
from services.console.session import LANG_COOKIE, Denied, NeedsSignIn, language
from services.console.settings import ConsoleSettings
from services.console.web import HERE, Clocks, render
from shared.auth import AuthConfig, AuthConfigError
from shared.http import metrics_response
from shared.logs import configure_logging
from shared.request_guard import FORM_TYPES, install_request_guard
from shared.sla.policy import PolicyBook

log = logging.getLogger("services.console")

#: the pages run no inline script and load nothing from elsewhere
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


def create_app(
    settings: ConsoleSettings | None = None,
    auth_config: AuthConfig | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    settings = settings or ConsoleSettings.from_env()
    config = auth_config or AuthConfig.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.backend = Backend(
            settings.service_urls, timeout=settings.request_timeout_seconds, transport=transport
        )
        try:
            yield
        finally:
            app.state.stopping = True
            await app.state.backend.aclose()

    app = FastAPI(title="BranchCare staff console", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.state.auth_config = config
    app.state.stopping = False
    app.state.server = None
    try:
        book: PolicyBook | None = PolicyBook.load()
    except Exception as exc:  # the console still works; times show in the default zone
        log.warning("SLA policy book not loaded (%s): times shown in Asia/Shanghai", exc)
        book = None
    app.state.clocks = Clocks(book)

    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    for module in (auth, lobby, desk, complaints, followups, satisfaction, hq, catalogue):
        app.include_router(module.router)

    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return metrics_response()

    @app.exception_handler(NeedsSignIn)
    async def needs_sign_in(request: Request, exc: NeedsSignIn) -> Response:
        if _wants_fragment(request):
            return PlainTextResponse("sign in again", status_code=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}&reason={exc.reason}", status_code=303)

    @app.exception_handler(Denied)
    async def denied(request: Request, exc: Denied) -> Response:
        t = Translator(language(request))
        if _wants_fragment(request):
            return PlainTextResponse(exc.message(t), status_code=403)
        session = getattr(request.state, "session", None)
        return render(
            request,
            "error.html",
            t,
            session,
            branch_id=session.branches[0] if session is not None and session.branches else None,
            status_code=403,
            message=exc.message(t),
        )

    # the console's pages post forms; anything else, or a body over the limit, never reaches them
    install_request_guard(app, max_body_bytes=settings.max_request_bytes, accept=FORM_TYPES)

    @app.middleware("http")
    async def frame(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        lang = request.query_params.get("lang")
        if lang and language(request) == lang:
            response.set_cookie(
                LANG_COOKIE, lang, max_age=365 * 86400, samesite="strict", secure=settings.cookie_secure
            )
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    return app


def _wants_fragment(request: Request) -> bool:
    path = request.url.path
    return path.endswith("/stream") or path.endswith("/partial")


def main() -> None:
    """``python -m services.console``: serve on ``HTTP_PORT`` (default 8080)."""
    try:
        settings = ConsoleSettings.from_env()
        config = AuthConfig.from_env()
    except (ValueError, AuthConfigError) as exc:
        print(f"console: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    configure_logging("console", settings.log_level)  # JSON or text lines; httpx held at WARNING
    app = create_app(settings, config)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=settings.http_host,
            port=settings.http_port,
            log_level=settings.log_level.lower(),
            log_config=None,  # uvicorn's lines go through the root handler (shared.logs)
            access_log=False,
            # open live-board streams end themselves when the server stops (see pages.lobby)
            timeout_graceful_shutdown=5,
        )
    )
    app.state.server = server
    for name, url in sorted(settings.service_urls.items()):
        log.info("%s API at %s", name, url)
    log.info("console on http://%s:%s/", settings.http_host, settings.http_port)
    server.run()
    if not server.started:
        raise SystemExit(1)
