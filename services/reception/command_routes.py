"""Reception's HTTP commands: one declaration each (``shared.command_routes``).

Each declaration says the path, the action it performs (``shared/SECURITY.md``), its body and how
the body becomes the command — by keyword. The shared mechanism does the rest: token and
permission, the visit's (or call's) branch checked before deciding, ``If-Match`` /
``expected_version``, the texts batch, ``Idempotency-Key`` where a step creates something, the
404/409 mapping, the ``ETag`` and the view. A visit step's path, action and name follow from the
step (:func:`visit_step`); ``name`` keeps each route's former ``operationId``.
Some steps are built by the app (``g.app``): they read the catalogue, a counter or a deadline
inside the command's transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from services.reception import bodies as b
from services.reception import components
from services.reception import decider as v
from services.reception import phone as p
from services.reception import routes as r
from services.reception.app import Reception
from services.reception.deps import call_branch, reception, visit_branch
from services.reception.views import (
    CallCreated,
    CallView,
    VisitCreated,
    VisitView,
)
from shared.command_routes import Build, CommandCall, CommandRoutes, Given, Ran, by_keyword

router = APIRouter()


def _routes(
    resource: str,
    branch_of: Callable[..., Awaitable[str | None]],
    run: Callable[[Reception, CommandCall], Awaitable[Ran]],
    view: type[BaseModel],
) -> CommandRoutes[Reception]:
    """The command routes of one kind of stream (visits, calls) of the running reception app."""
    return CommandRoutes(
        router,
        resource=resource,
        app=reception,
        branch_of=branch_of,
        run=run,
        view=view,
        now=lambda app: app.now(),
        text_batch=lambda app: app.texts.batch(),
        if_match='Version you read, e.g. "3": 409 if it moved on',
        # the app from the request in the route, not a dependency node of its own (an arrival
        # had one more node to solve; a step's branch check solves it anyway)
        app_of_request=lambda request: components.reception(request.app.state.ctx),
    )


def _app(g: Given) -> Reception:
    """The reception app: some steps are built by it (they read rows in the transaction)."""
    app: Reception = g.app
    return app


# ---------------------------------------------------------------------------------- visits

visits = _routes("visit_id", visit_branch, r.run_step, VisitView)


def visit_step(
    step: str, body: type[BaseModel] | None, build: Build, *, name: str | None = None, **options: Any
) -> None:
    """``POST /visits/{visit_id}/<step>``, performing ``reception.visit.<step>`` (``_`` for ``-``),
    its ``operationId`` the step's name too unless ``name`` says otherwise."""
    action = step.replace("-", "_")
    visits.post(
        f"/visits/{{visit_id}}/{step}",
        f"reception.visit.{action}",
        body,
        build,
        name=name or action,
        **options,
    )


visits.create(
    "/branches/{branch_id}/visits",
    "reception.visit.create",
    b.ArriveBody,
    lambda body, g: _app(g).arrival(
        arrival=body.arrival,
        returning=body.returning,
        customer_ref=body.customer_ref,
        display_name=body.display_name,
        relationship_manager=body.relationship_manager,
        priority=body.priority,
        accessibility=body.accessibility,
        service_type=body.service_type,
        notes=g.texts.add(body.notes),
    ),
    run=r.arrive,
    view=VisitCreated,
    location="/visits",
    name="arrive",
    doc="A customer walks in (or arrives for an appointment). With ``service_type`` the need is\n"
    "confirmed and a ticket issued at once; otherwise ``ticket`` is null until ``queue``. With an\n"
    "``Idempotency-Key`` a retry answers the first visit (and its ticket) instead of a second.",
)
visit_step("greet", b.GreetBody, by_keyword(v.Greet), body_required=False)
visit_step(
    "confirm-need",
    b.ConfirmNeedBody,
    lambda body, g: _app(g).confirm_need(service_type=body.service_type, notes=g.texts.add(body.notes)),
)
visit_step(
    "guide",
    b.GuideBody,
    lambda body, g: _app(g).guide(notes=g.texts.add(body.notes)),
    body_required=False,
    doc="Tell the customer the materials their business needs (from the catalogue).",
)
visit_step("check-documents", b.CheckDocumentsBody, by_keyword(v.CheckDocuments))
visit_step(
    "return",
    None,
    by_keyword(v.Return),
    name="return_",
    doc="The customer came back with the missing documents (same visit).",
)
visit_step(
    "queue",
    None,
    lambda body, g: _app(g).queue(),
    keyed=True,
    doc="Issue a ticket on the need's service line (with an ``Idempotency-Key``, a retry answers\n"
    "the visit with the ticket the first request issued).",
)
visit_step(
    "call",
    b.CallBody,
    lambda body, g: _app(g).call(counter_id=body.counter_id, staff_id=body.staff_id or g.actor, meta=g.meta),
    doc="Call the ticket to a counter (again, up to three times).",
)
visit_step(
    "serve",
    b.ServeBody,
    lambda body, g: _app(g).serve(
        outcome=g.texts.add(body.outcome),
        next_steps=g.texts.add(body.next_steps),
        promised_by=body.promised_by,
    ),
)
visit_step(
    "leave",
    b.LeaveBody,
    by_keyword(v.Leave),
    body_required=False,
    doc="The customer leaves: after service, before a ticket, or (holding a ticket) abandoning the\n"
    "queue; with ``to_fetch_documents`` they step out and the visit stays open.",
)
visit_step("abandon", None, by_keyword(v.Abandon))
visit_step("no-show", None, by_keyword(v.MarkNoShow), doc="Called three times and never came to the counter.")
visit_step(
    "raise-complaint",
    b.ComplaintBody,
    by_keyword(v.RaiseComplaint),
    keyed=True,
    doc="A complaint during the visit: the complaint service opens a case linked to it. With an\n"
    "``Idempotency-Key`` a retry raises no second complaint.",
)

# ----------------------------------------------------------------------------------- calls

calls = _routes("call_id", call_branch, r.run_call, CallView)


def call_step(step: str, action: str, name: str, body: type[BaseModel], build: Build, **options: Any) -> None:
    """``POST /calls/{call_id}/<step>``, performing ``reception.call.<action>``."""
    calls.post(f"/calls/{{call_id}}/{step}", f"reception.call.{action}", body, build, name=name, **options)


calls.create(
    "/branches/{branch_id}/calls",
    "reception.call.create",
    b.ReceiveCallBody,
    lambda body, g: (
        lambda call_id: p.ReceiveCall(
            call_id=call_id, at=g.now, customer_ref=body.customer_ref, masked_number=body.masked_number
        )
    ),
    run=r.receive_call,
    view=CallCreated,
    location="/calls",
    name="receive_call",
    body_required=False,
    doc="The phone rings (the answer SLA starts). With an ``Idempotency-Key`` a retry answers the\n"
    "first call.",
)
call_step(
    "answer",
    "answer",
    "answer_call",
    b.AnswerBody,
    lambda body, g: _app(g).answer(
        staff_id=body.staff_id or g.actor, rings=body.rings, seconds_to_answer=body.seconds_to_answer
    ),
)
call_step("purpose", "handle", "call_purpose", b.PurposeBody, by_keyword(p.RecordPurpose))
call_step("route", "handle", "route_call", b.RouteBody, by_keyword(p.RouteCall))
call_step("resolve", "handle", "resolve_call", b.ResolveBody, by_keyword(p.ResolveCall), body_required=False)
call_step(
    "end",
    "end",
    "end_call",
    b.EndCallBody,
    by_keyword(p.EndCall),
    body_required=False,
    doc="End the call; an unanswered call ends as missed. Purpose and outcome may be given here.",
)
