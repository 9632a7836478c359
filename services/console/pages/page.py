"""One page of a branch being answered: who asks, in which language, for which branch.

Every page under ``/b/{branch_id}/`` reads, commands and renders as the staff member signed in and
for the branch in its URL. :class:`Page` carries the four (request, session, translator, branch),
so a page's functions take one value instead of the same four parameters, and the branch is said
once: lists are read for it, a record read through :meth:`Page.record` must be its own, commands
are checked against it and every rendered page gets it. :class:`FormState` is a submit shown again
on the page it came from.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

from services.console.backend import Backend, Unavailable
from services.console.errors import FormErrors, form_errors
from services.console.i18n import Translator
from services.console.pages.forms import Outcome
from services.console.session import Denied, Session, Staff, T
from services.console.web import Panel, fetch, problem_of, render, unavailable_text


@dataclass(frozen=True)
class FormState:
    """What a page's forms show and the status the page answers with: empty on a plain GET; after
    a refused submit the errors beside the form as it was sent (``form``: never what must not be
    shown again) and the step it was for (a page with one form per step opens that one)."""

    errors: FormErrors = field(default_factory=FormErrors)
    form: Mapping[str, Any] = field(default_factory=dict)
    step: str | None = None
    status: int = 200

    @classmethod
    def refused(
        cls, errors: FormErrors, form: Mapping[str, Any] | None = None, step: str | None = None
    ) -> FormState:
        """A refused submit, answered with the status its errors came with (an error status), else 400."""
        return cls(errors, form or {}, step, errors.status if errors.status >= 400 else 400)


@dataclass(frozen=True)
class Page:
    request: Request
    session: Session
    t: Translator
    branch_id: str

    @property
    def backend(self) -> Backend:
        backend: Backend = self.request.app.state.backend
        return backend

    def require(self, action: str) -> None:
        """403 page unless the staff member may do ``action`` in this branch."""
        self.session.require(action, self.branch_id)

    def can(self, action: str) -> bool:
        return self.session.can(action, self.branch_id)

    async def fetch(
        self, service: str, path: str, *, action: str, params: Mapping[str, Any] | None = None
    ) -> Panel:
        """GET one of the branch's lists (the permission is checked for this branch)."""
        return await fetch(
            self.backend, self.session, self.t, service, path,
            action=action, branch_id=self.branch_id, params=params,
        )  # fmt: skip

    async def record(self, service: str, path: str, *, action: str) -> Panel:
        """GET one record (a visit, a case, a task). The URL's branch is not proof that the record
        is that branch's: one of another branch comes back as a problem, marked ``foreign``."""
        panel = await fetch(self.backend, self.session, self.t, service, path, action=action)
        if panel.ok and panel.data.get("branch_id") != self.branch_id:
            problem = self.t("error.branch_mismatch", branch=self.branch_id)
            return Panel(problem=problem, result=panel.result, foreign=True)
        return panel

    async def command(
        self,
        service: str,
        path: str,
        *,
        action: str,
        body: Any = None,
        version: str | int | None = None,
        form_fields: Collection[str] = (),
        idempotency_key: str | None = None,
    ) -> Outcome:
        """POST a command of this branch; errors come back mapped onto ``form_fields`` (or as a
        banner). A create passes the ``idempotency_key`` of its form (``forms.form_key``).

        A step on a record is posted after :meth:`record` found it in this branch, with ``If-Match:
        <the version the form was rendered with>``: a colleague's change in between is a 409 that
        says so — never a silent overwrite."""
        t = self.t
        try:
            result = await self.backend.post(
                self.session, service, path, action=action, branch_id=self.branch_id, json=body,
                if_match=version, idempotency_key=idempotency_key,
            )  # fmt: skip
        except Unavailable as exc:
            return Outcome(errors=FormErrors(banner=unavailable_text(exc, t), status=503))
        except Denied as exc:
            return Outcome(errors=FormErrors(banner=exc.message(t), status=403))
        if result.ok:
            return Outcome(result=result)
        if result.route_missing or result.status >= 500:
            return Outcome(
                result=result, errors=FormErrors(banner=problem_of(result, t), status=result.status)
            )
        return Outcome(result=result, errors=form_errors(result.status, result.body, form_fields, t))

    def render(
        self, template: str, *, active: str, forms: FormState | None = None, **context: Any
    ) -> HTMLResponse:
        """The page in the branch's frame, its forms as ``forms`` says (empty by default)."""
        shown = forms or FormState()
        return render(
            self.request, template, self.t, self.session,
            branch_id=self.branch_id, active=active, status_code=shown.status,
            errors=shown.errors, form=shown.form, failed_step=shown.step, **context,
        )  # fmt: skip


def branch_page(request: Request, branch_id: str, session: Staff, t: T) -> Page:
    """FastAPI dependency: the page of ``/b/{branch_id}/…`` for the signed-in staff member."""
    return Page(request, session, t, branch_id)


BranchPage = Annotated[Page, Depends(branch_page)]
