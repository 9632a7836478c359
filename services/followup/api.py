"""Follow-up HTTP routes: the branch's due / overdue list, one task, and the staff commands.

Every route declares its action (``shared.auth.requires``, table in ``shared/SECURITY.md``); a
command on a task passes ``staff.check_branch`` to the command handler (the task's branch is
checked after loading, before anything is decided); a read by id checks before answering.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, TypeVar
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, ConfigDict

from services.followup.app import READ_WITH, FollowUpApp, TaskLoad
from services.followup.components import Components, Parts
from services.followup.decider import (
    CancelTask,
    CompleteTask,
    ReassignTask,
    RecordContact,
    Task,
    stream_id,
)
from shared.auth import Principal, requires, requires_on
from shared.by_name import record
from shared.command_routes import CommandCall, CommandRoutes, Ran, by_keyword
from shared.command_values import STREAM_WITH_KEYS_SQL
from shared.commands import CommandResult, Loaded
from shared.contracts.common import Note, StaffId
from shared.contracts.followup import TaskKind
from shared.contracts.text import TextRef, TextRules
from shared.decider import NotFound
from shared.envelope import Metadata
from shared.history import HistoryEntry
from shared.http import command_metadata
from shared.runner import injected
from shared.sla.deadlines import Deadline, from_row
from shared.texts import TextReader, TextView, may_read_texts, refs_in

router = APIRouter(tags=["follow-ups"])
V = TypeVar("V", bound="TaskView")

BranchId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_\-]{1,64}$")]
Meta = Annotated[Metadata, Depends(command_metadata)]


async def task_stream(task_id: UUID, parts: Parts) -> Loaded[Task]:
    """The task's stream, loaded once per request (FastAPI keeps a dependency's value for the
    request): its branch is checked before the route runs and a command starts from it; with
    this context's texts its events refer to (``shared.stream_texts``, the handler's
    ``read_with``), which the command's answer shows."""
    return await parts.app.handler.load(stream_id(task_id))


async def task_branch(stream: Annotated[Loaded[Task], Depends(task_stream)]) -> str | None:
    """The task's branch, checked before a route on it runs (``requires_on``)."""
    return stream.branch_id


#: who may read a task: a reader of its branch (checked before it is loaded)
TaskReader = Annotated[Principal, Depends(requires_on("followup.read", task_branch))]


class ListStatus(StrEnum):
    open = "open"
    due = "due"
    overdue = "overdue"
    completed = "completed"
    cancelled = "cancelled"


class TaskView(BaseModel):
    task_id: UUID
    branch_id: str
    kind: TaskKind
    status: str
    owner: str | None
    due_at: datetime
    overdue: bool
    #: the rule's words (no staff text)
    reason: str
    #: the texts the task is about, kept by the contexts that received them (``elsewhere``: the
    #: console shows them from the owner's ``GET /texts/{text_id}``)
    about: list[TextView] = []
    subject: str
    customer_ref: str | None
    cause_event_id: UUID | None
    previous_task_id: UUID | None
    scheduled_at: datetime | None
    attempts: int
    reached: bool
    #: staff's notes: reference, and the words for staff of the branch
    last_note: TextView | None
    closed_at: datetime | None
    close_note: TextView | None
    #: why a rule closed the task (system text)
    close_rule: str | None = None
    verified: bool | None
    breached_at: datetime | None
    #: regulatory milestone tasks: the regulatory deadline (SLA) they warn about
    regulatory_sla: str | None = None
    #: since when the clock stands still (the complaint is on hold): never overdue meanwhile
    paused_at: datetime | None = None
    version: int


class TaskDetail(TaskView):
    deadlines: list[dict[str, Any]]
    history: list[HistoryEntry]


class TaskList(BaseModel):
    branch_id: str
    status: ListStatus
    as_of: datetime
    count: int
    tasks: list[TaskView]


class ContactBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reached: bool
    note: Note = ""


class CompleteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Note = ""
    #: verification tasks only: did the correction really happen?
    verified: bool | None = None


class CancelBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, TextRules(2000, min_length=1)]


class ReassignBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    owner: StaffId
    reason: Note = ""


def _view(
    view: type[V], task: Task, branch_id: str, version: int, now: datetime, texts: TextReader, **more: Any
) -> V:
    """The task's fields by name (``shared.by_name``); its texts as the reader may show them."""
    notes = {"last_note": texts.view(task.last_note), "close_note": texts.view(task.close_note)}
    shown = {
        "status": task.status.value,
        "overdue": task.overdue(now),
        "about": texts.views(task.about),
        **notes,
    }
    return record(view, shown, task, branch_id=branch_id, version=version, **more)


@router.get("/branches/{branch_id}/follow-ups", response_model=TaskList)
async def list_follow_ups(
    branch_id: BranchId,
    parts: Parts,
    staff: Annotated[Principal, Depends(requires("followup.read"))],
    status: ListStatus = ListStatus.open,
    kind: TaskKind | None = None,
    owner: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")] = None,
    within_hours: Annotated[int, Query(ge=1, le=24 * 31, description="horizon of status=due")] = 24,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> TaskList:
    """Open tasks by due time: ``due`` = due within the horizon and not yet overdue; ``overdue`` =
    past due and still open; ``open`` = all open ones (paused ones too: ``paused_at``, never due
    or overdue while their complaint is on hold); or the closed ones by status."""
    app = parts.app
    now = app.clock.now()
    where = ["branch_id = $1"]
    args: list[Any] = [branch_id]
    if status in (ListStatus.open, ListStatus.due, ListStatus.overdue):
        where.append("status IN ('scheduled', 'contacted')")
    else:
        args.append(status.value)
        where.append(f"status = ${len(args)}")
    if status in (ListStatus.due, ListStatus.overdue):
        where.append("paused_at IS NULL")  # a paused task's due time moves when it resumes
    if status is ListStatus.due:
        args += [now, now + timedelta(hours=within_hours)]
        where.append(f"due_at > ${len(args) - 1} AND due_at <= ${len(args)}")
    elif status is ListStatus.overdue:
        args.append(now)
        where.append(f"due_at <= ${len(args)}")
    if kind is not None:
        args.append(kind.value)
        where.append(f"kind = ${len(args)}")
    if owner is not None:
        args.append(owner)
        where.append(f"owner = ${len(args)}")
    args.append(limit)
    order = "closed_at DESC" if status in (ListStatus.completed, ListStatus.cancelled) else "due_at"
    query = f"SELECT * FROM tasks WHERE {' AND '.join(where)} ORDER BY {order}, task_id LIMIT ${len(args)}"
    async with app.store.pool.acquire() as conn:
        rows = await conn.fetch(query, *args)
        refs = [(_ref(r["last_note_ref"]), _ref(r["close_note_ref"]), _refs(r["about"])) for r in rows]
        reader = await app.texts.reader(
            conn,
            [x for last, close, _ in refs for x in (last, close)],
            may_read=may_read_texts(staff, branch_id),
        )
    plain = [k for k in TaskView.model_fields if k not in _TEXT_FIELDS]
    tasks = [
        TaskView(
            **{k: row[k] for k in plain if k in row.keys()},
            overdue=row["status"] in ("scheduled", "contacted")
            and row["paused_at"] is None
            and row["due_at"] <= now,
            last_note=reader.view(last),
            close_note=reader.view(close),
            about=reader.views(about),
        )
        for row, (last, close, about) in zip(rows, refs, strict=True)
    ]
    return TaskList(branch_id=branch_id, status=status, as_of=now, count=len(tasks), tasks=tasks)


@dataclass(frozen=True)
class _Detail:
    """A task as its detail shows it, read in one statement: the stream (with what a command's
    load reads beside it: the text keys, the task's texts) and its deadlines."""

    loaded: Loaded[Task]
    deadlines: list[Deadline]


#: where the task's id starts in its stream id (1-based), ``followup-<id>``
_ID_AT = len(stream_id(UUID(int=0))) - len(str(UUID(int=0))) + 1
_DETAIL_SQL = f"""SELECT s.*, {READ_WITH.sql},
    array(SELECT d FROM deadlines d WHERE d.subject_id = substr($1, {_ID_AT})
          ORDER BY d.due_at NULLS LAST, d.sla) AS task_deadlines
FROM ({STREAM_WITH_KEYS_SQL}) AS s"""


async def task_detail(task_id: UUID, parts: Parts) -> _Detail:
    """The task and its deadlines, one round trip, once per request (its branch is checked
    before the route runs: :func:`detail_branch`)."""
    app = parts.app
    [row] = await app.store.read_rows(_DETAIL_SQL, stream_id(task_id))
    loaded = app.handler.loaded_from(row, READ_WITH.parse(row))
    return _Detail(loaded, [from_row(d) for d in row["task_deadlines"] or ()])


async def detail_branch(detail: Annotated[_Detail, Depends(task_detail)]) -> str | None:
    return detail.loaded.branch_id


@router.get("/follow-ups/{task_id}", response_model=TaskDetail)
async def get_follow_up(
    task_id: UUID,
    parts: Parts,
    staff: Annotated[Principal, Depends(requires_on("followup.read", detail_branch))],
    detail: Annotated[_Detail, Depends(task_detail)],
    response: Response,
) -> TaskDetail:
    """The task, its deadlines and history, as the branch check read them (one round trip; a
    text that did not come with them, e.g. under an erased key, is read)."""
    app, loaded = parts.app, detail.loaded
    if loaded.version == 0:
        raise NotFound(f"follow-up task {task_id} does not exist")
    branch = loaded.history[0].branch_id
    staff.check_branch(branch)
    now = app.clock.now()
    reader = await _detail_reader(app, loaded, staff, branch)
    response.headers["ETag"] = f'"{loaded.version}"'
    return _view(
        TaskDetail,
        loaded.state,
        branch,
        loaded.version,
        now,
        reader,
        deadlines=[d.to_json(now) for d in detail.deadlines],
        history=[HistoryEntry.of(e, reader) for e in loaded.history],
    )


async def _detail_reader(app: FollowUpApp, loaded: Loaded[Task], staff: Principal, branch: str) -> TextReader:
    """The texts of the task and its history this reader may see: those read with the stream
    (``shared.stream_texts``), the others read now."""
    texts, task = app.texts, loaded.state
    refs = [
        task.last_note,
        task.close_note,
        *task.about,
        *(r for e in loaded.history for r in refs_in(e.data)),
    ]
    own = {r.text_id for r in refs if r is not None and r.context == texts.context and r.text_id}
    may_read = may_read_texts(staff, branch)
    if not may_read or not own:
        return TextReader(texts.context, {}, may_read)
    found = {}
    if isinstance(loaded.locked, TaskLoad):
        found = loaded.locked.texts.found(texts, own, loaded.text_keys)
    if own - found.keys():
        async with app.store.pool.acquire() as conn:
            found.update(await texts.resolve(conn, own - found.keys()))
    return TextReader(texts.context, found, may_read)


async def _run(parts: Components, call: CommandCall) -> Ran:
    """A task command declared through ``shared.command_routes``: execute, then the task's view."""
    app = parts.app
    commands = app if call.preloaded is None else app.for_staff(call.preloaded.state)
    result: CommandResult[Task] = await commands.execute(
        call.resource_id,
        call.command,
        call.meta,
        call.expected_version,
        check_branch=call.staff.check_branch,
        texts=call.texts,
        preloaded=call.preloaded,
    )
    task_id = call.resource_id
    branch = result.events[0].branch_id if result.events else (await app.load(task_id)).history[0].branch_id
    reader = await _answer_reader(app, call, result.state, branch)
    view = _view(TaskView, result.state, branch, result.version, app.clock.now(), reader)
    return Ran(view=view, version=result.version)


async def _answer_reader(app: FollowUpApp, call: CommandCall, task: Task, branch: str) -> TextReader:
    """The texts a command's answer shows, as :func:`_detail_reader` finds them, without reading them
    again: the command's own from its batch, the earlier ones from the route's load
    (``shared.stream_texts``); only a text neither has (one a concurrent command wrote, the load
    being retried; an erased owner's) is read."""
    texts = app.texts
    may_read = may_read_texts(call.staff, branch)
    refs = [task.last_note, task.close_note, *task.about]
    own = {r.text_id for r in refs if r is not None and r.context == texts.context and r.text_id}
    if not may_read or not own:
        return TextReader(texts.context, {}, may_read)
    found = call.texts.stored(branch_id=branch, customer_ref=task.customer_ref)
    preloaded = call.preloaded
    if preloaded is not None and isinstance(preloaded.locked, TaskLoad) and own - found.keys():
        found.update(preloaded.locked.texts.found(texts, own - found.keys(), preloaded.text_keys))
    missing = own - found.keys()
    if missing:
        async with app.store.pool.acquire() as conn:
            found.update(await texts.resolve(conn, missing))
    return TextReader(texts.context, {k: v for k, v in found.items() if k in own}, may_read)


_TEXT_FIELDS = frozenset({"last_note", "close_note", "about"})


def _ref(value: str | None) -> TextRef | None:
    return None if value is None else TextRef.model_validate_json(value)


def _refs(value: str | None) -> list[TextRef]:
    return [TextRef.model_validate(r) for r in json.loads(value or "[]")]


# one declaration per task command (shared.command_routes): path, action, body, the command by keyword
tasks: CommandRoutes[Components] = CommandRoutes(
    router,
    resource="task_id",
    app=injected(Components),
    branch_of=task_branch,
    stream_of=task_stream,
    run=_run,
    view=TaskView,
    now=lambda parts: parts.app.clock.now(),
    text_batch=lambda parts: parts.app.texts.batch(),
    if_match="The task version you read (ETag), to refuse lost updates",
)
tasks.post(
    "/follow-ups/{task_id}/contact",
    "followup.contact",
    ContactBody,
    by_keyword(RecordContact),
    name="contact",
    doc="Record one attempt to reach the customer (reached or not) and what was said.",
)
tasks.post(
    "/follow-ups/{task_id}/complete",
    "followup.complete",
    CompleteBody,
    by_keyword(CompleteTask),
    name="complete",
    doc="Done. Customer-facing tasks need a reached contact first; a verification needs ``verified``\n"
    "(false publishes ``VerificationFailed``: the complaint service reopens the case).",
)
tasks.post(
    "/follow-ups/{task_id}/cancel",
    "followup.cancel",
    CancelBody,
    by_keyword(CancelTask),
    name="cancel",
)
tasks.post(
    "/follow-ups/{task_id}/reassign",
    "followup.reassign",
    ReassignBody,
    by_keyword(ReassignTask, to_owner=lambda body, g: body.owner),
    name="reassign",
)
