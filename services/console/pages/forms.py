"""A submitted form: its fields, its idempotency key, and the :class:`Outcome` of the command it
posted (``services.console.pages.page.Page.command`` posts it)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.console.backend import ApiResult
from services.console.errors import FormErrors

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
