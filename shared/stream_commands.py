"""Commands on one kind of stream named by an id (a task, a survey), over a :class:`CommandHandler`."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Generic, TypeVar
from uuid import UUID

import asyncpg

from shared import db_batch, reactions
from shared.commands import CheckBranch, CommandHandler, CommandResult, Loaded, MakeCommand, PendingTexts
from shared.decider import NotFound
from shared.envelope import Envelope, Metadata
from shared.idempotency import Create, claim_first

S = TypeVar("S")
C = TypeVar("C")


class StreamCommands(Generic[C, S]):
    """Commands on one kind of stream named by an id (a task, a survey): the three entry points
    every service's application offers, over its :class:`CommandHandler`.

    :meth:`execute` is a staff command in its own transaction; :meth:`execute_in` a reaction's or
    the SLA clock's, inside the caller's transaction (a stream that does not exist yet may be
    created); :meth:`load` refuses a stream that does not exist (404).
    """

    def __init__(self, handler: CommandHandler[C, S], *, stream_id: Callable[[UUID], str], noun: str) -> None:
        """``handler``: the service's command handling for this kind of stream (its decider, what
        it writes with each append); ``stream_id`` names an entity's stream, ``noun`` it in a 404."""
        self.handler = handler
        self._stream_id = stream_id
        self._noun = noun

    async def execute(
        self,
        entity_id: UUID,
        command: C,
        meta: Metadata,
        expected_version: int | None = None,
        *,
        check_branch: CheckBranch | None = None,
        texts: PendingTexts | None = None,
        preloaded: Loaded[S] | None = None,
        create: Create | None = None,
    ) -> CommandResult[S]:
        """A command on an existing stream, in its own transaction; ``check_branch`` sees the
        stream's branch before anything is decided; ``texts`` are stored with the events;
        ``preloaded``: the stream as the route's branch check loaded it (:meth:`stream`).

        With an idempotency key (``create``: the command is a create on an existing stream, such
        as a survey answer) the key is claimed in the command's transaction, naming the entity and
        201 (a refused command rolls the claim back); a retry raises
        :class:`~shared.idempotency.AlreadyCreated`. A conflict runs the whole transaction again,
        the claim included."""
        made: C | MakeCommand[S, C] = command
        if create is not None and create.keyed:
            made = claim_first(create, command, resource_id=str(entity_id), status=201)
        return await self.handler.execute(
            self._stream_id(entity_id),
            made,
            branch_id=None,
            meta=meta,
            expected_version=expected_version,
            check_branch=check_branch,
            texts=texts,
            preloaded=preloaded,
        )

    async def execute_in(
        self,
        conn: asyncpg.Connection,
        entity_id: UUID,
        command: C,
        *,
        meta: Metadata,
        branch_id: str | None = None,
    ) -> list[Envelope]:
        """Decide and append inside the caller's transaction; the events appended (none if the
        stream already is where the command would take it).

        Without a batch open on ``conn`` (a reaction's or the scheduler's own transaction) one is
        opened for this command: its ``after_change`` writes and the append go as one statement,
        sent before this returns (:meth:`CommandHandler.execute_in` flushes in its savepoint).
        Inside a consumer batch's reactions (``shared.reactions``) the command is only queued, to
        be decided and appended with the batch's others: nothing is returned then."""
        batch = reactions.pending(conn)
        if batch is not None and not callable(command):
            batch.submit(self.handler, self._stream_id(entity_id), command, meta=meta, branch_id=branch_id)
            return []
        if batch is not None:  # built from the stream in the transaction: what is queued goes first
            await batch.flush()
        opened = db_batch.opened(conn) if db_batch.pending(conn) is None else contextlib.nullcontext()
        with opened:
            result = await self.handler.execute_in(
                conn, self._stream_id(entity_id), command, meta=meta, branch_id=branch_id, must_exist=False
            )
        return result.events

    async def stream(self, entity_id: UUID) -> Loaded[S]:
        """The stream as it is (empty when it does not exist): what a route's branch check loads
        once per request and hands to the command (``preloaded``)."""
        return await self.handler.load(self._stream_id(entity_id))

    async def load(self, entity_id: UUID, conn: asyncpg.Connection | None = None) -> Loaded[S]:
        loaded = await self.handler.load(self._stream_id(entity_id), conn)
        if loaded.version == 0:
            raise NotFound(f"{self._noun} {entity_id} does not exist")
        return loaded
