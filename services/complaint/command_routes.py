"""The complaint lifecycle's HTTP commands: one declaration each (``shared.command_routes``).

Each line says the path, the action it performs (``shared/SECURITY.md``), its body and how the
body becomes the command — by keyword, so two fields of one type cannot be swapped. The shared
mechanism does the rest: token and permission, the case's branch checked before deciding,
``If-Match`` / ``expected_version``, the texts batch, the 404/409 mapping, the ``ETag`` and the
case's view. ``name`` keeps each route's former ``operationId``.
"""

from __future__ import annotations

from uuid import uuid4

from services.complaint import bodies as b
from services.complaint import domain as d
from services.complaint.app import ComplaintApp
from services.complaint.routes import complaint_app, complaint_branch, router, run_command
from services.complaint.views import ComplaintView
from shared.command_routes import CommandRoutes, Given
from shared.contracts.complaint import ProposedSolution, RemediationAction

commands: CommandRoutes[ComplaintApp] = CommandRoutes(
    router,
    resource="complaint_id",
    app=complaint_app,
    branch_of=complaint_branch,
    run=run_command,
    view=ComplaintView,
    now=lambda app: app.clock.now(),
    text_batch=lambda app: app.texts.batch(),
)
post = commands.post
CASE = "/complaints/{complaint_id}"


def _propose(body: b.ProposeBody, g: Given) -> d.ProposeSolutions:
    solutions = tuple(
        ProposedSolution(
            solution_id=s.solution_id or uuid4(),
            description=g.texts.require(s.description),
            compensation=s.compensation,
            currency=s.currency,
        )
        for s in body.solutions
    )
    return d.ProposeSolutions(at=g.now, solutions=solutions)


def _close(body: b.CloseBody, g: Given) -> d.Close:
    actions = tuple(
        RemediationAction(
            action_id=a.action_id or uuid4(),
            description=g.texts.require(a.description),
            owner=a.owner,
            due_at=a.due_at,
        )
        for a in body.remediation_actions
    )
    return d.Close(
        at=g.now,
        result=g.texts.require(body.result),
        customer_satisfied=body.customer_satisfied,
        root_cause=g.texts.add(body.root_cause),
        remediation=g.texts.add(body.remediation),
        bank_at_fault=body.bank_at_fault,
        cause_code=body.cause_code,
        remediation_actions=actions,
    )


post(
    f"{CASE}/acknowledge",
    "complaint.acknowledge",
    b.AcknowledgeBody,
    lambda body, g: d.Acknowledge(at=g.now, apology=g.texts.add(body.apology)),
    name="acknowledge",
    body_required=False,
    doc="Acknowledge with an apology (the first response, due 30 min after receipt).",
)
post(
    f"{CASE}/classify",
    "complaint.classify",
    b.ClassifyBody,
    lambda body, g: d.Classify(
        at=g.now,
        category=body.category,
        nature=body.nature,
        source=body.source,
        urgency=body.urgency,
        business_type=body.business_type,
        cause_code=body.cause_code,
    ),
    name="classify",
    doc="Content category, nature, source and urgency (+ business type and cause code from the\n"
    "profile's code tables); major or urgent escalates at once.",
)
post(
    f"{CASE}/start-investigation",
    "complaint.investigate",
    b.NoteBody,
    lambda body, g: d.StartInvestigation(at=g.now, note=g.texts.add(body.note)),
    name="start_investigation",
    body_required=False,
)
post(
    f"{CASE}/propose",
    "complaint.propose",
    b.ProposeBody,
    _propose,
    name="propose",
    doc="Propose one or more alternative solutions (optional compensation); the customer decides on each.",
)
post(
    f"{CASE}/accept",
    "complaint.accept",
    b.SolutionDecisionBody,
    lambda body, g: d.AcceptSolution(at=g.now, solution_id=body.solution_id, note=g.texts.add(body.note)),
    name="accept",
)
post(
    f"{CASE}/reject",
    "complaint.reject",
    b.RejectBody,
    lambda body, g: d.RejectSolution(
        at=g.now, solution_id=body.solution_id, reason=g.texts.require(body.reason)
    ),
    name="reject",
    doc="The customer rejects a solution; when none is left, a new proposal is needed.",
)
post(
    f"{CASE}/implement",
    "complaint.implement",
    b.SolutionDecisionBody,
    lambda body, g: d.ImplementSolution(at=g.now, solution_id=body.solution_id, note=g.texts.add(body.note)),
    name="implement",
    doc="The accepted solution is carried out: the case counts as resolved.",
)
post(
    f"{CASE}/answer",
    "complaint.answer",
    b.AnswerBody,
    lambda body, g: d.Answer(
        at=g.now,
        answer=g.texts.require(body.answer),
        outcome=body.outcome,
        response_kind=body.response_kind,
        refers_to_ombudsman=body.refers_to_ombudsman,
    ),
    name="answer",
    doc="The customer is told the bank's decision (``not_upheld`` needs no solution).",
)
post(
    f"{CASE}/close",
    "complaint.close",
    b.CloseBody,
    _close,
    name="close",
    doc="Close with a record of process and result; a major case, or one where the bank was at\n"
    "fault, also needs its root cause and remediation actions with owners and due times (溯源整改).",
)
post(
    f"{CASE}/reopen",
    "complaint.reopen",
    b.ReasonBody,
    lambda body, g: d.Reopen(at=g.now, reason=g.texts.require(body.reason)),
    name="reopen",
    doc="Reopen within 30 days of the close: a new cycle of the same case, with fresh deadlines.",
)
post(
    f"{CASE}/hold",
    "complaint.hold",
    b.HoldBody,
    lambda body, g: d.Hold(at=g.now, reason=g.texts.require(body.reason), kind=body.kind),
    name="hold",
    doc="Wait on the customer (or an external appraisal): the case's SLA clocks pause.",
)
post(
    f"{CASE}/resume",
    "complaint.resume",
    b.NoteBody,
    lambda body, g: d.Resume(at=g.now, note=g.texts.add(body.note)),
    name="resume",
    body_required=False,
)
post(
    f"{CASE}/escalate",
    "complaint.escalate",
    b.EscalateBody,
    lambda body, g: d.Escalate(at=g.now, reason=g.texts.require(body.reason), to_level=body.to_level),
    name="escalate",
    doc="Hand the case up one level (lobby manager → branch head → HQ department); never down.",
)
post(
    f"{CASE}/merge",
    "complaint.merge",
    b.MergeBody,
    lambda body, g: d.MergeIntoIncident(
        at=g.now, incident_id=body.incident_id or uuid4(), cause=g.texts.require(body.cause)
    ),
    name="merge",
    doc="Merge into an incident: many complaints, one cause (e.g. a system outage).",
)
post(
    f"{CASE}/customer-left",
    "complaint.customer_left",
    b.Body,
    lambda body, g: d.RecordCustomerLeft(at=g.now),
    name="customer_left",
    body_required=False,
    doc="The in-branch complainant left: the 24 h resolve deadline starts now.",
)
post(
    f"{CASE}/progress-update",
    "complaint.progress_update",
    b.ProgressBody,
    lambda body, g: d.GiveProgressUpdate(at=g.now, note=g.texts.require(body.note)),
    name="progress_update",
    doc="The complainant was told where the case stands (due every 24 h while open).",
)
post(
    f"{CASE}/extend",
    "complaint.extension.request",
    b.ReasonBody,
    lambda body, g: d.ExtendRegulatoryDeadline(at=g.now, reason=g.texts.require(body.reason)),
    name="extend",
    doc="Extend the regulatory limit once (15 → 30 days) for a complex case, with a reason.",
)

# regulatory profiles (issue 8)
post(
    f"{CASE}/assign",
    "complaint.assign",
    b.AssignBody,
    lambda body, g: d.AssignHandler(at=g.now, handler=body.handler),
    name="assign",
    doc="Assign the handler; never the member of staff the complaint is about (recusal, 409).",
)
post(
    f"{CASE}/identify-staff",
    "complaint.identify_staff",
    b.StaffBody,
    lambda body, g: d.IdentifyStaff(at=g.now, staff_ids=tuple(body.staff_ids)),
    name="identify_staff",
    doc="Record the members of staff the complaint is about (they may not handle it).",
)
post(
    f"{CASE}/new-material",
    "complaint.add_material",
    b.MaterialBody,
    lambda body, g: d.RecordNewMaterial(at=g.now, summary=g.texts.require(body.summary)),
    name="new_material",
    doc="New facts or reasons from the complainant (cn-2020: the decision clock restarts today).",
)
post(
    f"{CASE}/request-extension",
    "complaint.extension.request",
    b.ReasonBody,
    lambda body, g: d.RequestExtension(
        at=g.now, reason=g.texts.require(body.reason), by=g.actor, request_id=uuid4()
    ),
    name="request_extension",
    doc="Ask higher-level management for a further extension (cn-2020: to 60 days in total).",
)
post(
    f"{CASE}/approve-extension",
    "complaint.extension.approve",
    b.DecisionNoteBody,
    lambda body, g: d.DecideExtension(at=g.now, approve=True, by=g.actor, note=g.texts.add(body.note)),
    name="approve_extension",
    body_required=False,
    doc="Approve the pending request; the requester cannot approve their own (409).",
)
post(
    f"{CASE}/deny-extension",
    "complaint.extension.approve",
    b.ReasonBody,
    lambda body, g: d.DecideExtension(at=g.now, approve=False, by=g.actor, note=g.texts.require(body.reason)),
    name="deny_extension",
    doc="Deny the pending request, with a reason: the earlier limit stands.",
)
post(
    f"{CASE}/interim-response",
    "complaint.interim_response",
    b.InterimBody,
    lambda body, g: d.SendInterimResponse(
        at=g.now,
        kind=body.kind,
        note=g.texts.require(body.note),
        refers_to_ombudsman=body.refers_to_ombudsman,
    ),
    name="interim_response",
    doc="uk-fca holding response (payment services: moves the final response to business day 35);\n"
    'us-cfpb "in progress" response within 15 days.',
)
post(
    f"{CASE}/request-review",
    "complaint.review.request",
    b.ReasonBody,
    lambda body, g: d.RequestReview(at=g.now, reason=g.texts.require(body.reason)),
    name="request_review",
    doc="The complainant asks the higher level to review the decision (cn-2020: within 30 days).",
)
post(
    f"{CASE}/decide-review",
    "complaint.review.decide",
    b.ReviewDecisionBody,
    lambda body, g: d.DecideReview(at=g.now, outcome=body.outcome, decision=g.texts.require(body.decision)),
    name="decide_review",
    doc="The higher level's review decision, told to the complainant.",
)
