"""Run a command with everything in ONE transaction: look-ups, decision, append, read models.

``shared.commands.CommandHandler`` decides before its transaction; reception also needs to read and
lock rows the decision depends on (the next ticket number, whether a counter is busy, the phone
deadline) so they commit or roll back together with the events. Lock order, the same everywhere
(so concurrent commands and the SLA scheduler never deadlock): the subject's deadline rows, then
ticket counter, then the stream's events, then read-model rows (visits, counters).
"""

from __future__ import annotations

from typing import Generic, TypeVar

import asyncpg

from shared.commands import CheckBranch, CommandHandler, CommandResult, MakeCommand, PendingTexts
from shared.envelope import Metadata
from shared.eventstore import ConcurrencyError
from shared.metrics import COMMAND_CONFLICTS

S = TypeVar("S")
C = TypeVar("C")


_RETRY_DB = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)


class TransactionalCommands(Generic[C, S]):
    def __init__(self, handler: CommandHandler[C, S], *, retries: int = 5) -> None:
        self.handler = handler
        self.retries = retries

    async def execute(
        self,
        stream_id: str,
        command: C | MakeCommand[S, C],
        *,
        meta: Metadata,
        branch_id: str | None = None,
        expected_version: int | None = None,
        must_exist: bool = True,
        lock_subject: str | None = None,
        check_branch: CheckBranch | None = None,
        texts: PendingTexts | None = None,
    ) -> CommandResult[S]:
        """Run ``command`` in a fresh transaction; a concurrent change is retried on fresh state
        (unless the client named the version it expects: then it is a 409). ``check_branch``
        (the caller's ``Principal.check_branch``) sees the stream's branch before anything is
        built, decided or appended."""
        for attempt in range(self.retries + 1):
            try:
                async with self.handler.store.transaction() as conn:
                    return await self.run_in(
                        conn,
                        stream_id,
                        command,
                        meta=meta,
                        branch_id=branch_id,
                        expected_version=expected_version,
                        must_exist=must_exist,
                        lock_subject=lock_subject,
                        check_branch=check_branch,
                        texts=texts,
                    )
            except ConcurrencyError:
                if expected_version is not None or attempt == self.retries:
                    COMMAND_CONFLICTS.labels(self.handler.service, "rejected").inc()
                    raise
                COMMAND_CONFLICTS.labels(self.handler.service, "retried").inc()
            except _RETRY_DB:
                if attempt == self.retries:
                    raise
                COMMAND_CONFLICTS.labels(self.handler.service, "retried").inc()
        raise AssertionError("unreachable")

    async def run_in(
        self,
        conn: asyncpg.Connection,
        stream_id: str,
        command: C | MakeCommand[S, C],
        *,
        meta: Metadata,
        branch_id: str | None = None,
        expected_version: int | None = None,
        must_exist: bool = True,
        lock_subject: str | None = None,
        check_branch: CheckBranch | None = None,
        texts: PendingTexts | None = None,
    ) -> CommandResult[S]:
        """Run ``command`` inside the caller's transaction ``conn`` (e.g. the SLA scheduler's)."""
        if lock_subject is not None:
            await conn.execute("SELECT 1 FROM deadlines WHERE subject_id = $1 FOR UPDATE", lock_subject)
        return await self.handler.execute_in(
            conn,
            stream_id,
            command,
            meta=meta,
            branch_id=branch_id,
            expected_version=expected_version,
            must_exist=must_exist,
            check_branch=check_branch,
            texts=texts,
        )
