"""Feedback HTTP routes: the answer webhook, a survey, the branch's recent surveys, branch
satisfaction, channel preference.

Every route declares its action (``shared.auth.requires``, table in ``shared/SECURITY.md``); an
answer passes ``staff.check_branch`` to the command handler (the survey's branch is checked after
loading, before anything is decided); a read by id checks before answering.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from services.feedback.comments import assess
from services.feedback.components import Components, Parts, components
from services.feedback.domain import COMMENT_MAX, AnswerSurvey, Survey, WindowClosed
from services.feedback.preferences import preferred_channel
from services.feedback.satisfaction import branch_satisfaction
from shared.auth import Principal, requires, requires_on
from shared.command_routes import ViewAnswer
from shared.commands import Loaded
from shared.contracts.feedback import DeliveryFailure, ReasonCategory, SurveyChannel
from shared.contracts.text import TextRef, TextRules
from shared.envelope import Metadata
from shared.gateway_identity import actor_metadata, staff_or_gateway
from shared.http import BranchIdPath, CustomerRefPath, command_metadata
from shared.idempotency import AlreadyCreated, Create, IdempotencyKey, replay
from shared.texts import TextReader, TextView, may_read_texts

router = APIRouter(tags=["feedback"])

Meta = Annotated[Metadata, Depends(command_metadata)]
MAX_PERIOD_DAYS = 366


#: request-state key of the survey's stream as :func:`survey_branch` loaded it
_LOADED_KEY = "feedback_survey_stream"


async def survey_branch(survey_id: UUID, request: Request) -> str | None:
    """The survey's branch, checked before a route on it runs (``requires_on``,
    ``staff_or_gateway``): staff of another branch get 403 whatever body they send.

    The stream is loaded here, once per request, and kept in the request's state: an answer
    starts from it (:func:`loaded_survey`). One dependency node per request where a loading
    node, a branch node and two ``Parts`` nodes were (FastAPI solves every node of the tree on
    every request, cached or not: the path's ``survey_id`` was parsed three times); the app is
    read off the request."""
    stream = await components(request.app.state.ctx).app.stream(survey_id)
    request.scope.setdefault("state", {})[_LOADED_KEY] = (survey_id, stream)
    return stream.branch_id


def loaded_survey(request: Request) -> tuple[UUID, Loaded[Survey]]:
    """The survey's id and stream as :func:`survey_branch` read and loaded them for this request
    (the route takes no ``survey_id`` of its own: FastAPI would parse the path again)."""
    loaded: tuple[UUID, Loaded[Survey]] = request.scope["state"][_LOADED_KEY]
    return loaded


class ResponseBody(BaseModel):
    """What the SMS / phone gateway posts when the customer answers."""

    model_config = ConfigDict(extra="forbid")

    score: int = Field(ge=1, le=5)
    comment: Annotated[str, TextRules(COMMENT_MAX)] = ""
    reasons: list[ReasonCategory] = Field(default_factory=list, max_length=10)


class SurveyView(BaseModel):
    survey_id: UUID
    branch_id: str
    subject: str
    status: str
    channel: SurveyChannel | None
    customer_ref: str | None
    staff_id: str | None
    service_type: str | None
    requested_at: datetime | None
    expires_at: datetime | None
    sent_at: datetime | None
    answered_at: datetime | None
    score: int | None
    #: the customer's comment (numbers masked): reference, and the words for staff of the branch
    comment: TextView | None
    reasons: list[str]
    negative: bool
    describes_complaint: bool
    expired_at: datetime | None
    version: int
    deadlines: list[dict[str, Any]] = Field(default_factory=list)
    #: handing it to the gateway: attempts, sent / given up, the last error or why it was skipped
    delivery: dict[str, Any] | None = None
    #: status ``send_failed``: why the last attempt failed; the next attempt, or when it was
    #: given up (it never reached the customer: left out of the response rate)
    delivery_failure: str | None = None
    attempts: int = 0
    retry_at: datetime | None = None
    given_up_at: datetime | None = None
    #: the gateway reported the message delivered to the handset
    delivered_at: datetime | None = None


_ANSWER = ViewAnswer(SurveyView)


class ListStatus(StrEnum):
    requested = "requested"
    sent = "sent"
    answered = "answered"
    expired = "expired"
    send_failed = "send_failed"


class SurveySummary(BaseModel):
    """One survey of the branch's recent list (no customer reference: not needed to read comments)."""

    survey_id: UUID
    subject: str
    subject_type: str
    status: str
    channel: SurveyChannel
    service_type: str | None
    staff_id: str | None
    requested_at: datetime
    sent_at: datetime | None
    answered_at: datetime | None
    expired_at: datetime | None
    score: int | None
    #: the customer's comment (numbers masked): reference, and the words for staff of the branch
    comment: TextView | None
    reasons: list[str]
    negative: bool
    describes_complaint: bool
    #: when it last happened: answered, else requested (the list's order, newest first)
    at: datetime


class SurveyList(BaseModel):
    branch_id: str
    count: int
    surveys: list[SurveySummary]


class ChannelBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: SurveyChannel


class ChannelView(BaseModel):
    customer_ref: str
    channel: SurveyChannel | None
    updated_at: datetime | None = None


def _view(
    s: Survey, branch_id: str, version: int, deadlines: list[dict[str, Any]], texts: TextReader
) -> SurveyView:
    assert s.survey_id is not None
    return SurveyView(
        survey_id=s.survey_id,
        branch_id=branch_id,
        subject=s.subject,
        status=s.status.value,
        channel=s.channel,
        customer_ref=s.customer_ref,
        staff_id=s.staff_id,
        service_type=s.service_type,
        requested_at=s.requested_at,
        expires_at=s.expires_at,
        sent_at=s.sent_at,
        answered_at=s.answered_at,
        score=s.score,
        comment=texts.view(s.comment),
        reasons=list(s.reasons),
        negative=s.negative,
        describes_complaint=s.describes_complaint,
        expired_at=s.expired_at,
        version=version,
        deadlines=deadlines,
        delivery_failure=s.failure.value if s.failure else None,
        attempts=s.attempts,
        retry_at=s.retry_at,
        given_up_at=s.given_up_at,
        delivered_at=s.delivered_at,
    )


@router.post("/surveys/{survey_id}/responses", status_code=201, response_model=SurveyView)
async def answer_survey(
    body: ResponseBody,
    staff: Annotated[Principal, Depends(staff_or_gateway("feedback.response.submit", survey_branch))],
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    x_correlation_id: Annotated[str | None, Header()] = None,
) -> Response:
    """The gateway's webhook (a gateway token, ``shared.gateway_identity``), or floor staff of the
    survey's branch taking the answer by phone. 404 unknown survey, 409 already answered, 410
    window closed (72 h) or the survey was given up undelivered. The actor is who the token names.

    A score ≤ 2, or a comment naming a problem, also publishes ``NegativeFeedbackReceived``. With
    an ``Idempotency-Key`` a retry of the same answer gets the first result (201), not a 409."""
    parts = components(request.app.state.ctx)  # not a dependency node (see survey_branch)
    survey_id, stream = loaded_survey(request)
    app = parts.app
    meta = actor_metadata(staff, x_correlation_id)
    texts = app.texts.batch()
    command = AnswerSurvey(
        score=body.score,
        at=app.clock.now(),
        comment=texts.add(body.comment),
        reasons=tuple(r.value for r in body.reasons),
        # what the words say is read here, by the documented keyword rules; the decider sees this
        assessment=assess(body.score, body.comment),
    )
    create = Create.on_resource(request, idempotency_key, body=body)
    try:
        result = await app.execute(
            survey_id,
            command,
            meta,
            check_branch=staff.check_branch,
            create=create,
            texts=texts,
            preloaded=stream,
        )
    except WindowClosed as exc:
        raise HTTPException(410, str(exc)) from None
    except AlreadyCreated as done:
        replay(response, done)
        loaded = await app.load(survey_id)
        branch = loaded.history[0].branch_id
        reader = await _comment_reader(parts, staff, branch, loaded.state.comment)
        replayed: Response = _ANSWER(_view(loaded.state, branch, loaded.version, [], reader), response, 201)
        return replayed
    branch = result.events[0].branch_id
    # the comment is the answer's own: shown from its batch, not read back after the commit
    stored = texts.stored(branch_id=branch, customer_ref=result.state.customer_ref)
    reader = TextReader(app.texts.context, stored, may_read_texts(staff, branch))
    # serialized here, not validated again as the response model by FastAPI (same bytes)
    answer: Response = _ANSWER(_view(result.state, branch, result.version, [], reader), response, 201)
    return answer


async def _comment_reader(
    parts: Components, staff: Principal, branch: str, comment: TextRef | None
) -> TextReader:
    """The answer's comment as ``staff`` may see it; no pool checkout for an answer without one
    (most answers: a score only)."""
    texts = parts.app.texts
    may_read = may_read_texts(staff, branch)
    if comment is None:
        return TextReader(texts.context, {}, may_read)
    async with parts.app.store.pool.acquire() as conn:
        return await texts.reader(conn, [comment], may_read=may_read)


class DeliveryBody(BaseModel):
    """The gateway's delivery report of the survey's message."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["delivered", "undelivered", "rejected"]
    #: the gateway's reference of the message (as ``SurveySent.message_id``), for its own records
    message_id: Annotated[str | None, Field(max_length=128, pattern=r"^[A-Za-z0-9_.:\-]{1,128}$")] = None


_REPORTED = {"undelivered": DeliveryFailure.undelivered, "rejected": DeliveryFailure.gateway_rejected}


@router.post("/surveys/{survey_id}/delivery", response_model=SurveyView)
async def report_delivery(
    survey_id: UUID,
    body: DeliveryBody,
    parts: Parts,
    gateway: Annotated[Principal, Depends(staff_or_gateway("feedback.delivery.report", survey_branch))],
    response: Response,
    x_correlation_id: Annotated[str | None, Header()] = None,
) -> SurveyView:
    """The SMS / voice gateway reports whether the message reached the handset (gateway token
    only: no member of staff reports delivery). ``undelivered``: the survey is ``send_failed``
    and sent again with backoff; ``rejected``: given up. A report on a survey already answered,
    expired or given up changes nothing (200 with the survey as it is)."""
    app = parts.app
    meta = actor_metadata(gateway, x_correlation_id)
    failure = _REPORTED.get(body.status)
    result = await app.report_delivery(survey_id, failure, meta, check_branch=gateway.check_branch)
    loaded = result.state
    branch = (await app.load(survey_id)).history[0].branch_id
    response.headers["ETag"] = f'"{result.version}"'
    async with app.store.pool.acquire() as conn:
        reader = await app.texts.reader(conn, [loaded.comment], may_read=False)
    return _view(loaded, branch, result.version, [], reader)


@router.get("/surveys/{survey_id}", response_model=SurveyView)
async def get_survey(
    survey_id: UUID,
    parts: Parts,
    staff: Annotated[Principal, Depends(requires_on("feedback.read", survey_branch))],
    response: Response,
) -> SurveyView:
    app = parts.app
    now = app.clock.now()
    # one snapshot: the dispatcher records a send's outcome in the survey's stream and in its
    # dispatch row in one transaction, and the view shows both
    async with app.store.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        loaded = await app.load(survey_id, conn)
        staff.check_branch(loaded.history[0].branch_id)
        deadlines = [d.to_json(now) for d in await app.deadlines.list_for(conn, str(survey_id))]
        delivery = await conn.fetchrow(
            """SELECT attempts, next_attempt_at, sent_at, given_up_at, skip_reason, last_error
               FROM survey_dispatch WHERE survey_id = $1""",
            survey_id,
        )
        branch = loaded.history[0].branch_id
        reader = await app.texts.reader(conn, [loaded.state.comment], may_read=may_read_texts(staff, branch))
    response.headers["ETag"] = f'"{loaded.version}"'
    view = _view(loaded.state, branch, loaded.version, deadlines, reader)
    view.delivery = dict(delivery) if delivery is not None else None
    return view


@router.get("/branches/{branch_id}/surveys", response_model=SurveyList)
async def recent_surveys(
    branch_id: BranchIdPath,
    parts: Parts,
    staff: Annotated[Principal, Depends(requires("feedback.read"))],
    answered: Annotated[
        bool | None, Query(description="true: answered only (the comments); false: not answered")
    ] = None,
    status: ListStatus | None = None,
    with_comment: Annotated[bool, Query(description="only answers with a comment")] = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> SurveyList:
    """The branch's recent surveys, newest first (answered ones by answer time, the others by
    request time): score, masked comment, reasons, service type, staff member."""
    where = ["branch_id = $1"]
    args: list[Any] = [branch_id]
    if answered is not None:
        where.append("status = 'answered'" if answered else "status <> 'answered'")
    if status is not None:
        args.append(status.value)
        where.append(f"status = ${len(args)}")
    if with_comment:
        where.append("comment_ref IS NOT NULL")
    args.append(limit)
    query = f"""SELECT *, coalesce(answered_at, requested_at) AS at FROM survey_facts
                WHERE {" AND ".join(where)}
                ORDER BY coalesce(answered_at, requested_at) DESC, survey_id LIMIT ${len(args)}"""
    texts = parts.app.texts
    async with parts.app.store.pool.acquire() as conn:
        rows = await conn.fetch(query, *args)
        refs = [_ref(r["comment_ref"]) for r in rows]
        reader = await texts.reader(conn, refs, may_read=may_read_texts(staff, branch_id))
    surveys = [
        SurveySummary(
            **{k: row[k] for k in SurveySummary.model_fields if k != "comment"}, comment=reader.view(ref)
        )
        for row, ref in zip(rows, refs, strict=True)
    ]
    return SurveyList(branch_id=branch_id, count=len(surveys), surveys=surveys)


@router.get("/branches/{branch_id}/satisfaction")
async def satisfaction(
    branch_id: BranchIdPath,
    parts: Parts,
    staff: Annotated[Principal, Depends(requires("feedback.read"))],
    from_: Annotated[
        date | None, Query(alias="from", description="first day (branch-local), inclusive")
    ] = None,
    to: Annotated[date | None, Query(description="last day (branch-local), inclusive; default today")] = None,
) -> dict[str, Any]:
    """Satisfaction rate (share of 4–5), CSAT average and response rate for the period, overall and
    by service type, staff member, day and subject type, with the gap to the target (95 %)."""
    app = parts.app
    book = app.deadlines.book
    today = app.clock.now().astimezone(book.calendar(branch_id).tz).date()
    last = to or today
    first = from_ or last - timedelta(days=29)
    if first > last:
        raise HTTPException(422, "'from' must not be after 'to'")
    if (last - first).days >= MAX_PERIOD_DAYS:
        raise HTTPException(422, f"the period is limited to {MAX_PERIOD_DAYS} days")
    target = app.config.satisfaction_target
    async with app.store.pool.acquire() as conn:
        figures = await branch_satisfaction(conn, branch_id, first, last, target)
    return {"branch_id": branch_id, "from": first, "to": last, "target": target, **figures}


@router.put("/customers/{customer_ref}/survey-channel", response_model=ChannelView)
async def set_channel(
    customer_ref: CustomerRefPath,
    body: ChannelBody,
    parts: Parts,
    staff: Annotated[Principal, Depends(requires("feedback.preference.write"))],
    meta: Meta,
) -> ChannelView:
    """The customer's preferred survey channel (asked at the counter); overrides configuration."""
    now = parts.app.clock.now()
    async with parts.app.store.pool.acquire() as conn:
        await conn.execute(
            """INSERT INTO customer_preferences (customer_ref, channel, updated_at, updated_by)
               VALUES ($1, $2, $3, $4) ON CONFLICT (customer_ref) DO UPDATE
               SET channel = EXCLUDED.channel, updated_at = EXCLUDED.updated_at,
                   updated_by = EXCLUDED.updated_by""",
            customer_ref,
            body.channel.value,
            now,
            meta.actor,
        )
    return ChannelView(customer_ref=customer_ref, channel=body.channel, updated_at=now)


@router.get("/customers/{customer_ref}/survey-channel", response_model=ChannelView)
async def get_channel(
    customer_ref: CustomerRefPath,
    parts: Parts,
    staff: Annotated[Principal, Depends(requires("feedback.preference.read"))],
) -> ChannelView:
    async with parts.app.store.pool.acquire() as conn:
        found = await preferred_channel(conn, customer_ref)  # under any of the customer's refs
    if found is None:
        return ChannelView(customer_ref=customer_ref, channel=None)
    return ChannelView(customer_ref=customer_ref, channel=SurveyChannel(found[0]), updated_at=found[1])


def _ref(value: str | None) -> TextRef | None:
    return None if value is None else TextRef.model_validate_json(value)
