"""Running a service command from a submitted form: the call, its errors, and the branch check.

A command page first loads the record it acts on (to check that it belongs to the branch in the
URL: a branch the token may act in is not enough, the record must be that branch's), then posts
the command with ``If-Match: <the version the form was rendered with>``, so a colleague's change in
between is a 409 that says so — never a silent overwrite.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi import Request

from services.console.backend import ApiResult, Backend, Unavailable
from services.console.errors import FormErrors, form_errors
from services.console.i18n import Translator
from services.console.session import Denied, Session
from services.console.web import problem_of, unavailable_text

_FORM_KEY = re.compile(r"^[A-Za-z0-9\-]{8,64}$")


@dataclass
class Outcome:
    """A command's result for the page: the new state, or the errors to show on the form."""

    result: ApiResult | None = None
    errors: FormErrors = field(default_factory=FormErrors)

    @property
    def ok(self) -> bool:
        return self.result is not None and self.result.ok

    @property
    def body(self) -> Any:
        return self.result.body if self.result is not None else None

    @property
    def replayed(self) -> bool:
        """The service answered a retry of a create with its first result (same key)."""
        return self.result is not None and self.result.headers.get("idempotent-replayed") == "true"


def backend(request: Request) -> Backend:
    b: Backend = request.app.state.backend
    return b


async def command(
    request: Request,
    session: Session,
    t: Translator,
    service: str,
    path: str,
    *,
    action: str,
    branch_id: str,
    body: Any = None,
    version: str | int | None = None,
    form_fields: Collection[str] = (),
    idempotency_key: str | None = None,
) -> Outcome:
    """POST a command; errors come back mapped onto ``form_fields`` (or as a banner). A create
    passes the ``idempotency_key`` of its form (:func:`form_key`)."""
    try:
        result = await backend(request).post(
            session,
            service,
            path,
            action=action,
            branch_id=branch_id,
            json=body,
            if_match=version,
            idempotency_key=idempotency_key,
        )
    except Unavailable as exc:
        return Outcome(errors=FormErrors(banner=unavailable_text(exc, t), status=503))
    except Denied as exc:
        return Outcome(errors=FormErrors(banner=exc.message(t), status=403))
    if result.ok:
        return Outcome(result=result)
    if result.route_missing or result.status >= 500:
        return Outcome(result=result, errors=FormErrors(banner=problem_of(result, t), status=result.status))
    return Outcome(result=result, errors=form_errors(result.status, result.body, form_fields, t))


def form_key(form: Mapping[str, Any], step: str | None = None) -> str | None:
    """The idempotency key the form was rendered with (one per rendered form: a double click
    sends it twice, a new form a new one), or None. ``step`` derives the key of one of several
    creates the form makes (each route needs its own key)."""
    key = form.get("idempotency_key")
    if not isinstance(key, str) or not _FORM_KEY.match(key):
        return None
    return f"{key}.{step}" if step else key


def form_dict(form: Mapping[str, Any]) -> dict[str, str]:
    """Single-valued fields of a submitted form, stripped."""
    return {k: str(v).strip() for k, v in form.items() if isinstance(v, str)}


def optional(value: str | None) -> str | None:
    return value if value not in (None, "") else None


def parse_bool(value: str | None) -> bool | None:
    if value in ("true", "on", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    return None


def local_datetime(value: str | None, tz: Any) -> str | None:
    """An ``<input type=datetime-local>`` value in the branch's zone, as an aware ISO time."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=tz).isoformat()
    except ValueError:
        return value  # let the service say what is wrong with it, next to the field
