"""Rendering helpers shared by the pages: templates, formatting, panels that degrade, navigation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit
from uuid import uuid4
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Undefined

from services.console import formats
from services.console.backend import ApiResult, Backend, Unavailable
from services.console.i18n import LANGS, Translator
from services.console.session import Denied, Session
from services.console.texts import show_text
from shared.sla.policy import PolicyBook

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
#: one idempotency key per rendered form (``{{ m.once() }}``): submitting it twice is one create
templates.env.globals["new_key"] = lambda: str(uuid4())

SERVICE_LABELS = {
    "reception": ("接待", "reception"),
    "complaint": ("投诉", "complaint"),
    "followup": ("跟踪", "follow-up"),
    "feedback": ("反馈", "feedback"),
    "hq": ("总行", "HQ"),
}


# ------------------------------------------------------------------------------ formatting


def parse_time(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _missing(value: Any) -> bool:
    """None, or a value the template asked for that the service did not send."""
    return value is None or isinstance(value, Undefined)


def fmt_duration(seconds: float | int | None, lang: str) -> str:
    """A span for people: ``4:05`` under an hour, ``2h 05m`` / ``2小时05分钟``, ``3d 4h`` (Babel)."""
    return formats.duration(seconds, lang)


def fmt_percent(value: float | None, digits: int = 1, lang: str = "zh") -> str:
    return formats.percent(value, lang, digits)


def fmt_number(value: Any, lang: str = "zh") -> str:
    return formats.number(value, lang)


@dataclass
class Clocks:
    """Branch time zones from the SLA policy book (the services' own source of branch calendars)."""

    book: PolicyBook | None

    def tz(self, branch_id: str | None) -> tzinfo:
        if self.book is None:
            return ZoneInfo("Asia/Shanghai")
        try:
            return self.book.calendar(branch_id).tz
        except Exception:  # an unknown branch falls back to the default calendar
            return self.book.calendar(None).tz

    def local(self, value: Any, branch_id: str | None, fmt: str = "%m-%d %H:%M", lang: str = "zh") -> str:
        return formats.moment(parse_time(value), self.tz(branch_id), lang, fmt)

    def today(self, branch_id: str | None) -> date:
        return datetime.now(self.tz(branch_id)).date()


# ---------------------------------------------------------------------------------- panels


@dataclass
class Panel:
    """One section's data, or why it cannot be shown (the page still renders)."""

    data: Any = None
    problem: str | None = None
    result: ApiResult | None = None
    #: a record of another branch than the page's (``Page.record``): the problem says so
    foreign: bool = False

    @property
    def ok(self) -> bool:
        return self.problem is None


def service_label(service: str, t: Translator) -> str:
    zh, en = SERVICE_LABELS.get(service, (service, service))
    return zh if t.lang == "zh" else en


def problem_of(result: ApiResult, t: Translator) -> str:
    label = service_label(result.service, t)
    if result.route_missing:
        return t("error.not_built", service=label, path=f"{result.method} {result.path}")
    if result.status == 403:
        return t("error.forbidden", detail=result.detail)
    if result.status == 404:
        return t("error.not_found", detail=result.detail)
    if result.status == 401:
        return t("error.unauthorized", detail=result.detail)
    return t("error.server", service=label, status=result.status, detail=result.detail or "?")


def unavailable_text(exc: Unavailable, t: Translator) -> str:
    return t("error.unavailable", service=service_label(exc.service, t), url=exc.url)


async def fetch(
    backend: Backend,
    session: Session,
    t: Translator,
    service: str,
    path: str,
    *,
    action: str,
    branch_id: str | None = None,
    params: Mapping[str, Any] | None = None,
) -> Panel:
    """GET for a page section: the JSON, or a message saying why it is not there."""
    try:
        result = await backend.get(session, service, path, action=action, branch_id=branch_id, params=params)
    except Unavailable as exc:
        return Panel(problem=unavailable_text(exc, t))
    except Denied as exc:
        return Panel(problem=exc.message(t))
    if not result.ok:
        return Panel(problem=problem_of(result, t), result=result)
    return Panel(data=result.body, result=result)


# -------------------------------------------------------------------------------- navigation

#: (message key, url pattern, the read action that shows it)
BRANCH_PAGES: tuple[tuple[str, str, str], ...] = (
    ("nav.lobby", "/b/{b}/lobby", "reception.lobby.read"),
    ("nav.desk", "/b/{b}/desk", "reception.visit.create"),
    ("nav.complaints", "/b/{b}/complaints", "complaint.read"),
    ("nav.followups", "/b/{b}/follow-ups", "followup.read"),
    ("nav.satisfaction", "/b/{b}/satisfaction", "feedback.read"),
)


def nav_items(session: Session, branch_id: str | None, t: Translator) -> list[dict[str, str]]:
    items = []
    if branch_id:
        for key, pattern, action in BRANCH_PAGES:
            if session.can(action, branch_id):
                items.append({"label": t(key), "href": pattern.format(b=branch_id), "key": key})
    if session.can("hq.read"):
        items.append({"label": t("nav.hq"), "href": "/hq", "key": "nav.hq"})
    return items


def home_of(session: Session) -> str:
    """Where a staff member lands after signing in."""
    if session.can("hq.read"):
        return "/hq"
    if session.branches:
        branch = session.branches[0]
        for _, pattern, action in BRANCH_PAGES:
            if session.can(action, branch):
                return pattern.format(b=branch)
    return "/login"


def current_page(request: Request) -> str:
    """The page to come back to: this one, or for a form's answer the page the form was on."""
    if request.method == "GET":
        query = {k: v for k, v in request.query_params.items() if k != "lang"}
        return request.url.path + (f"?{urlencode(query)}" if query else "")
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc and referer.netloc != request.url.netloc:
        return "/"
    return (referer.path or "/") + (f"?{referer.query}" if referer.query else "")


def render(
    request: Request,
    template: str,
    t: Translator,
    session: Session | None,
    *,
    branch_id: str | None = None,
    status_code: int = 200,
    active: str = "",
    **context: Any,
) -> HTMLResponse:
    clocks: Clocks = request.app.state.clocks
    other_lang = LANGS[1 - LANGS.index(t.lang)]
    switch_href = "/lang?" + urlencode({"to": other_lang, "next": current_page(request)})
    ctx = {
        "t": t,
        "lang": t.lang,
        "session": session,
        "branch_id": branch_id,
        "nav": nav_items(session, branch_id, t) if session else [],
        "active": active,
        "switch_href": switch_href,
        "local": lambda v, fmt="%m-%d %H:%M": clocks.local(v, branch_id, fmt, t.lang),
        "dur": lambda s: fmt_duration(s, t.lang),
        "pct": lambda v, digits=1: fmt_percent(v, digits, t.lang),
        "num": lambda v: fmt_number(v, t.lang),
        "day": lambda d: formats.day(d, t.lang),
        "text": lambda value: show_text(value, t),
        "branch_choices": session.branches if session else [],
        "roles_label": ", ".join(t.label("role", r) for r in sorted(session.principal.roles))
        if session
        else "",
        **context,
    }
    return templates.TemplateResponse(request, template, ctx, status_code=status_code)
