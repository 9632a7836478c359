"""The shapes reception's commands are handed over in: a step is a command, or a builder that makes
it inside the command's transaction (to read or lock what the decision depends on); the options say
how a command on an existing visit or call runs; what a command's first statement locked and read
(:class:`SubjectLocks`) reaches its builder (``Loaded.locked``) and its ``after_change``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict
from uuid import UUID

from services.reception import counter as k
from services.reception import decider as v
from services.reception import phone as p
from shared.commands import CheckBranch, Loaded, LockFirst, MakeCommand, PendingTexts
from shared.sla.deadlines import DeadlineCache

VisitStep = v.Command | MakeCommand[v.Visit, v.Command]
CallStep = p.CallCommand | MakeCommand[p.PhoneCall, p.CallCommand]
Start = Callable[[str, UUID], VisitStep]
"""A new visit's first command, given its branch and id (``Reception.arrival``)."""


class Options(TypedDict, total=False):
    """How a command on an existing visit or call runs (``shared.commands.CommandHandler``)."""

    #: the version the client read (``If-Match``): a change since is a 409
    expected_version: int | None
    #: the caller's ``Principal.check_branch``, on the stream's branch before anything is decided
    check_branch: CheckBranch | None
    #: the free texts the command refers to, stored in its transaction
    texts: PendingTexts | None
    #: this command's own first lock (call-next: the counter's row as well), instead of the handler's
    lock_first: LockFirst | None


@dataclass(frozen=True)
class CounterRead:
    """A counter as call-next's first statement read it (without a lock): its ``counters`` row
    (None when it has none yet) and, unless the row shows it open today, its stream
    (``Counters.before_call`` then decides on it without reading it again). The call's write of
    the row checks it is still so (``projections.COUNTER_MOVED``)."""

    branch_id: str
    counter_id: str
    row: Mapping[str, Any] | None
    loaded: Loaded[k.Counter] | None


@dataclass(frozen=True)
class SubjectLocks:
    """What a visit's or call's command locked and read first, in its transaction (call-next:
    read, unlocked, in its first statement): the subject's deadline rows (changed in memory by
    ``after_change``, written with the append) and, for call-next, the counter
    (:class:`CounterRead`)."""

    deadlines: DeadlineCache
    counter: CounterRead | None = None
    #: the counter a call opened, whose row the visit's rows write with the customer at it (one
    #: write of the row: the call's and the counter's appends then go as one statement,
    #: ``Counters.before_call``)
    opened: list[k.Counter] = field(default_factory=list)
