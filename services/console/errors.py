"""Turn a service's error answer into what a form shows: messages next to fields, or a banner.

- 422 with FastAPI's ``detail: [{loc, msg, type}, ...]``: ``loc`` minus its ``body``/``query``/
  ``path`` prefix, joined with dots (``solutions.0.description``), names the form field (forms name
  their inputs after the API's body fields). Errors on a field the form does not have, and model-
  level errors (``loc == ["body"]``), go to the banner.
- 409: the ``detail`` is the reason a step is not allowed now → banner; with ``current_version``
  (an ``If-Match`` / expected-version conflict) it is a colleague's concurrent change → a banner
  that says so and asks to reload.
- anything else: a banner naming what went wrong.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from services.console.i18n import Translator

_LOCATIONS = ("body", "query", "path", "header")
_PYDANTIC_PREFIXES = ("Value error, ", "Assertion failed, ")


@dataclass
class FormErrors:
    """What to show after a failed submit."""

    fields: dict[str, str] = field(default_factory=dict)
    banner: str | None = None
    #: the record moved on under the user (409 on If-Match): the page must be reloaded
    conflict: bool = False
    status: int = 0

    def __bool__(self) -> bool:
        return bool(self.fields or self.banner)


def field_path(loc: Any) -> str:
    """``["body", "solutions", 0, "description"]`` → ``solutions.0.description``."""
    if not isinstance(loc, list | tuple):
        return ""
    parts = [str(p) for p in loc]
    if parts and parts[0] in _LOCATIONS:
        parts = parts[1:]
    return ".".join(parts)


def clean_message(msg: str) -> str:
    for prefix in _PYDANTIC_PREFIXES:
        if msg.startswith(prefix):
            return msg[len(prefix) :]
    return msg


def _detail_text(detail: Any) -> str:
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        return "; ".join(
            clean_message(str(d.get("msg", d))) if isinstance(d, Mapping) else str(d) for d in detail
        )
    if detail is None:
        return ""
    return str(detail)


def _field_for(path: str, form_fields: Collection[str]) -> str | None:
    """The form field an error path belongs to: the path itself, or its nearest named parent."""
    parts = path.split(".") if path else []
    while parts:
        candidate = ".".join(parts)
        if candidate in form_fields:
            return candidate
        parts.pop()
    return None


def form_errors(status: int, body: Any, form_fields: Collection[str], t: Translator) -> FormErrors:
    """Map a service's error answer onto a form with inputs named ``form_fields``."""
    detail = body.get("detail") if isinstance(body, Mapping) else body
    errors = FormErrors(status=status)
    if status == 422 and isinstance(detail, list):
        unplaced: list[str] = []
        for item in detail:
            if not isinstance(item, Mapping):
                unplaced.append(str(item))
                continue
            path = field_path(item.get("loc"))
            message = clean_message(str(item.get("msg", "")))
            target = _field_for(path, form_fields)
            if target is None:
                unplaced.append(f"{path}: {message}" if path else message)
            elif target in errors.fields:
                errors.fields[target] += f"; {message}"
            else:
                errors.fields[target] = message
        if unplaced:
            errors.banner = t("error.invalid", detail="; ".join(unplaced))
        return errors
    text = _detail_text(detail)
    if status == 409:
        version = body.get("current_version") if isinstance(body, Mapping) else None
        if version is not None:
            errors.conflict = True
            errors.banner = t("error.conflict", version=version)
        else:
            errors.banner = t("error.not_allowed_now", detail=text)
    elif status == 422:
        errors.banner = t("error.invalid", detail=text)
    elif status == 404:
        errors.banner = t("error.not_found", detail=text)
    elif status == 403:
        errors.banner = t("error.forbidden", detail=text)
    elif status == 401:
        errors.banner = t("error.unauthorized", detail=text)
    elif status == 410:
        errors.banner = t("error.gone", detail=text)
    else:
        errors.banner = t("error.http", status=status, detail=text or "?")
    return errors
