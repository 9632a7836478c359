"""The shapes reception's commands are handed over in: a step is a command, or a builder that makes
it inside the command's transaction (to read or lock what the decision depends on); the options say
how a command on an existing visit or call runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypedDict
from uuid import UUID

from services.reception import domain as v
from services.reception import phone as p
from shared.commands import CheckBranch, MakeCommand, PendingTexts

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
