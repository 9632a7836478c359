"""The complaint lifecycle's HTTP commands: one declaration each (``shared.command_routes``).

Each line says the step (the path's last word, the operationId's name and, unless it names
another, the action ``complaint.<step>`` it performs: ``shared/SECURITY.md``), its body and the
command the body becomes — by keyword
(``shared.command_routes.by_keyword``: fields of the same names, free texts through the text
batch), so two fields of one type cannot be swapped; a command needing more than its body says how.
The shared mechanism does the rest: token and permission, the case's branch checked before
deciding, ``If-Match`` / ``expected_version``, the texts batch, the 404/409 mapping, the ``ETag``
and the case's view.
"""

from __future__ import annotations

from typing import Any, TypeVar
from uuid import UUID, uuid4

from pydantic import BaseModel

from services.complaint import bodies as b
from services.complaint import domain as d
from services.complaint.app import ComplaintApp, app_for
from services.complaint.routes import complaint_app, complaint_branch, complaint_stream, router, run_command
from services.complaint.views import ComplaintView
from shared.command_routes import CommandRoutes, Given, by_keyword
from shared.contracts.complaint import ProposedSolution, RemediationAction
from shared.contracts.text import TextRef

commands: CommandRoutes[ComplaintApp] = CommandRoutes(
    router,
    resource="complaint_id",
    app=complaint_app,
    app_of_request=lambda request: app_for(request.app.state.ctx),
    branch_of=complaint_branch,
    stream_of=complaint_stream,
    run=run_command,
    view=ComplaintView,
    now=lambda app: app.clock.now(),
    text_batch=lambda app: app.texts.batch(),
)
CASE = "/complaints/{complaint_id}"
Item = TypeVar("Item", bound=BaseModel)


def step(path: str, body: type[b.Body], command: type, *, action: str = "", **fixed: Any) -> None:
    """``POST /complaints/{id}/<path>``, performing ``complaint.<action>`` (by default the path's
    words, ``_`` for ``-``): the body becomes ``command`` by keyword (``fixed``: what the body does
    not say). The operationId keeps the former route's name (the path's words), the body may be
    left out when none of its fields is required, ``DOCS`` describes it."""
    name = path.replace("-", "_")
    required = any(f.is_required() for f in body.model_fields.values())
    build = by_keyword(command, **fixed)
    performs = f"complaint.{action or name}"
    commands.post(
        f"{CASE}/{path}", performs, body, build, name=name, doc=DOCS.get(name), body_required=required
    )


def _items(model: type[Item], key: str, items: list[Any], g: Given) -> tuple[Item, ...]:
    """Each item as ``model``: a new id where it brings none, its description through the batch."""
    return tuple(
        model(
            **{
                **i.model_dump(),
                key: getattr(i, key) or uuid4(),
                "description": g.texts.require(i.description),
            }
        )
        for i in items
    )


def _solutions(body: b.ProposeBody, g: Given) -> tuple[ProposedSolution, ...]:
    return _items(ProposedSolution, "solution_id", body.solutions, g)


def _actions(body: b.CloseBody, g: Given) -> tuple[RemediationAction, ...]:
    return _items(RemediationAction, "action_id", body.remediation_actions, g)


def _new_incident(body: b.MergeBody, g: Given) -> UUID:
    return body.incident_id or uuid4()


def _new_id(body: b.ReasonBody, g: Given) -> UUID:
    return uuid4()


def _why(body: b.ReasonBody, g: Given) -> TextRef:
    return g.texts.require(body.reason)


#: the OpenAPI description of each step that has one
DOCS = {
    "acknowledge": "Acknowledge with an apology (the first response, due 30 min after receipt).",
    "classify": "Content category, nature, source and urgency (+ business type and cause code from the\n"
    "profile's code tables); major or urgent escalates at once.",
    "propose": "Propose one or more alternative solutions (optional compensation); "
    "the customer decides on each.",
    "reject": "The customer rejects a solution; when none is left, a new proposal is needed.",
    "implement": "The accepted solution is carried out: the case counts as resolved.",
    "answer": "The customer is told the bank's decision (``not_upheld`` needs no solution).",
    "close": "Close with a record of process and result; a major case, or one where the bank was at\n"
    "fault, also needs its root cause and remediation actions with owners and due times (溯源整改).",
    "reopen": "Reopen within 30 days of the close: a new cycle of the same case, with fresh deadlines.",
    "hold": "Wait on the customer (or an external appraisal): the case's SLA clocks pause.",
    "escalate": "Hand the case up one level (lobby manager → branch head → HQ department); never down.",
    "merge": "Merge into an incident: many complaints, one cause (e.g. a system outage).",
    "customer_left": "The in-branch complainant left: the 24 h resolve deadline starts now.",
    "progress_update": "The complainant was told where the case stands (due every 24 h while open).",
    "extend": "Extend the regulatory limit once (15 → 30 days) for a complex case, with a reason.",
    "assign": "Assign the handler; never the member of staff the complaint is about (recusal, 409).",
    "identify_staff": "Record the members of staff the complaint is about (they may not handle it).",
    "new_material": "New facts or reasons from the complainant (cn-2020: the decision clock restarts today).",
    "request_extension": "Ask higher-level management for a further extension "
    "(cn-2020: to 60 days in total).",
    "approve_extension": "Approve the pending request; the requester cannot approve their own (409).",
    "deny_extension": "Deny the pending request, with a reason: the earlier limit stands.",
    "interim_response": "uk-fca holding response "
    "(payment services: moves the final response to business day 35);\n"
    'us-cfpb "in progress" response within 15 days.',
    "request_review": "The complainant asks the higher level to review the decision "
    "(cn-2020: within 30 days).",
    "decide_review": "The higher level's review decision, told to the complainant.",
}

step("acknowledge", b.AcknowledgeBody, d.Acknowledge)
step("classify", b.ClassifyBody, d.Classify)
step("start-investigation", b.NoteBody, d.StartInvestigation, action="investigate")
step("propose", b.ProposeBody, d.ProposeSolutions, solutions=_solutions)
step("accept", b.SolutionDecisionBody, d.AcceptSolution)
step("reject", b.RejectBody, d.RejectSolution)
step("implement", b.SolutionDecisionBody, d.ImplementSolution)
step("answer", b.AnswerBody, d.Answer)
step("close", b.CloseBody, d.Close, remediation_actions=_actions)
step("reopen", b.ReasonBody, d.Reopen)
step("hold", b.HoldBody, d.Hold)
step("resume", b.NoteBody, d.Resume)
step("escalate", b.EscalateBody, d.Escalate)
step("merge", b.MergeBody, d.MergeIntoIncident, incident_id=_new_incident)
step("customer-left", b.Body, d.RecordCustomerLeft)
step("progress-update", b.ProgressBody, d.GiveProgressUpdate)
step("extend", b.ReasonBody, d.ExtendRegulatoryDeadline, action="extension.request")
# regulatory profiles (issue 8)
step("assign", b.AssignBody, d.AssignHandler)
step("identify-staff", b.StaffBody, d.IdentifyStaff)
step("new-material", b.MaterialBody, d.RecordNewMaterial, action="add_material")
step("request-extension", b.ReasonBody, d.RequestExtension, action="extension.request", request_id=_new_id)
step("approve-extension", b.DecisionNoteBody, d.DecideExtension, action="extension.approve", approve=True)
step("deny-extension", b.ReasonBody, d.DecideExtension, action="extension.approve", approve=False, note=_why)
step("interim-response", b.InterimBody, d.SendInterimResponse)
step("request-review", b.ReasonBody, d.RequestReview, action="review.request")
step("decide-review", b.ReviewDecisionBody, d.DecideReview, action="review.decide")
