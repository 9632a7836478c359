"""Survey command handling: the decider over the event store, the read model, dispatch and window.

Requests come from rules reacting to other contexts' events (:meth:`FeedbackApp.request_in`,
inside the projection's transaction); answers from the gateway webhook (:meth:`execute`); sends
from the dispatcher and expiry from the SLA clock (``execute_in`` in their transactions). One
``after_change`` keeps ``survey_facts``, the dispatch queue and the window deadline in step with
the stream, in the same transaction as the events: the facts row, the window and a new survey's
dispatch row are queued (``shared.db_batch``) and go with the append as one statement (one write
per row per command, none read back in it); a failed send's dispatch updates (two may touch the
row in one command) run at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

import asyncpg

from services.feedback import metrics, survey_rows
from services.feedback.config import FeedbackConfig
from services.feedback.domain import (
    Command,
    ExpireSurvey,
    RecordDelivered,
    RecordSendFailure,
    RequestSurvey,
    Survey,
    stream_id,
    survey_decider,
    survey_id_for,
)
from services.feedback.preferences import preferred_channel
from shared.actors import SLA_CLOCK
from shared.clock import Clock
from shared.commands import CheckBranch, CommandHandler, CommandResult, Loaded
from shared.contracts.feedback import (
    DeliveryFailure,
    NegativeFeedbackReceived,
    SurveyAnswered,
    SurveyChannel,
    SurveyExpired,
    SurveyGivenUp,
    SurveyRequested,
    SurveySendFailed,
    SurveySent,
)
from shared.envelope import Envelope, Metadata
from shared.eventstore import EventStore
from shared.sla.deadlines import Deadline, Deadlines
from shared.sla.scheduler import Kind
from shared.sla.subject import Subject
from shared.stream_commands import StreamCommands
from shared.texts import PrivateTexts

SERVICE = "feedback"
WINDOW_SLA = "feedback.survey_window"


@dataclass(eq=False)
class FeedbackApp(StreamCommands[Command, Survey]):
    """Survey commands (``execute``, ``execute_in``, ``load``:
    :class:`~shared.stream_commands.StreamCommands`, an answer may be keyed) with the survey's
    facts, dispatch and window kept in step."""

    store: EventStore
    clock: Clock
    deadlines: Deadlines
    config: FeedbackConfig
    #: the customers' comments (private, erasable; events carry references)
    texts: PrivateTexts

    def __post_init__(self) -> None:
        handler = CommandHandler(
            service=SERVICE,
            store=self.store,
            decider=survey_decider,
            clock=self.clock,
            after_change=self._after_change,
            text_keys=True,  # the customers' comments: their keys are read with the survey
            # an answer (``execute``: the webhook) reads nothing in ``_after_change`` and queues
            # every write: its writes and append go as one statement, without BEGIN and COMMIT
            # (``shared.one_statement``); a keyed answer (its claim) and the commands run in a
            # caller's transaction (``execute_in``) keep theirs
            one_statement=True,
        )
        super().__init__(handler, stream_id=stream_id, noun="survey")

    # ------------------------------------------------------------------------------- commands

    async def report_delivery(
        self,
        survey_id: UUID,
        failure: DeliveryFailure | None,
        meta: Metadata,
        *,
        check_branch: CheckBranch | None = None,
    ) -> CommandResult[Survey]:
        """The gateway's delivery report: delivered (``failure`` None), or not — then the survey
        is ``send_failed`` and tried again with backoff (given up when the tries or the window
        are used up; a rejection is not retried)."""
        now = self.clock.now()

        async def make(conn: asyncpg.Connection, loaded: Loaded[Survey]) -> Command:
            if failure is None:
                return RecordDelivered(now)
            retry = None if failure is DeliveryFailure.gateway_rejected else self.retry_at(loaded.state, now)
            return RecordSendFailure(failure, now, retry)

        async with self.store.transaction() as conn:
            return await self.handler.execute_in(
                conn, stream_id(survey_id), make, meta=meta, check_branch=check_branch
            )

    async def request_in(
        self,
        conn: asyncpg.Connection,
        *,
        cause: Envelope,
        subject: str,
        customer_ref: str,
        staff_id: str | None,
        service_type: str | None,
        meta: Metadata,
        known: Mapping[str, tuple[str, datetime] | None] | None = None,
    ) -> list[Envelope]:
        """Request the subject's survey (nothing if it exists): channel, window, then decide.
        ``known``: the channel preferences a batch of reactions read in one go, by customer ref."""
        branch_id = cause.branch_id
        if known is not None and customer_ref in known:
            preference = known[customer_ref]
        else:
            preference = await preferred_channel(conn, customer_ref)  # under any of the customer's refs
        channel = self.config.channel_for(branch_id, SurveyChannel(preference[0]) if preference else None)
        now = self.clock.now()
        survey_id = survey_id_for(subject)
        command = RequestSurvey(
            survey_id=survey_id,
            subject=subject,
            customer_ref=customer_ref,
            channel=channel,
            requested_at=now,
            expires_at=self.window_end(branch_id, now),
            staff_id=staff_id,
            service_type=service_type,
            source_event_id=cause.event_id,
        )
        return await self.execute_in(conn, survey_id, command, meta=meta, branch_id=branch_id)

    def retry_at(self, survey: Survey, now: datetime) -> datetime | None:
        """When to try reaching the customer again after a failed attempt: exponential backoff
        (10 s … 1 h); None (give up) once ``max_send_attempts`` are used or the next attempt would
        fall after the answer window."""
        attempts = survey.attempts + 1
        if attempts >= self.config.max_send_attempts:
            return None
        at = now + min(timedelta(seconds=5 * 2**attempts), timedelta(hours=1))
        return None if survey.expires_at is not None and at >= survey.expires_at else at

    def window_end(self, branch_id: str, start: datetime) -> datetime:
        """When a survey requested at ``start`` expires (policy ``feedback.survey_window``)."""
        book = self.deadlines.book
        policy = book.policy(WINDOW_SLA, branch_id)
        return book.calendar_for(policy, branch_id).add_open_time(start, policy.duration)

    # ---------------------------------------------------------------------- the SLA clock fires

    async def on_fire(self, conn: asyncpg.Connection, deadline: Deadline, kind: Kind, at: datetime) -> None:
        """The window's end expires the survey; "at risk" of expiring needs nobody's action."""
        if kind != "breached":
            return
        meta = Metadata(actor=SLA_CLOCK)
        await self.execute_in(conn, UUID(deadline.subject_id), ExpireSurvey(at=at), meta=meta)

    # ----------------------------------------- read model, dispatch, deadline: same transaction

    async def _after_change(
        self,
        conn: asyncpg.Connection,
        before: Survey,
        state: Survey,
        envelopes: Sequence[Envelope],
        _locked: object = None,
    ) -> None:
        if not envelopes or state.survey_id is None:
            return
        branch_id = envelopes[0].branch_id
        await self._upsert_facts(conn, state, branch_id, envelopes[-1].stream_version)
        # the window is never read: a new survey's is started in memory and written with the
        # append; an answer or a give-up ends it in SQL, queued with the append (issue 19: one
        # round trip fewer per answer, ``Deadlines.end_later``)
        deadlines = await self.deadlines.cached(None, str(state.survey_id))
        await self._follow(conn, deadlines, state, envelopes)
        await deadlines.write(conn)

    async def _follow(
        self, conn: asyncpg.Connection, deadlines: Deadlines, state: Survey, envelopes: Sequence[Envelope]
    ) -> None:
        """The window deadline and the dispatch queue follow the survey's events (and metrics)."""
        assert state.survey_id is not None
        branch_id = envelopes[0].branch_id
        subject_id = str(state.survey_id)
        subject_type = state.subject_type
        for env in envelopes:
            if env.type == SurveyRequested.event_type:
                assert state.requested_at is not None and state.channel is not None
                survey = Subject("survey", subject_id, env.stream_id, branch_id)
                await deadlines.start(conn, subject=survey, sla=WINDOW_SLA, started_at=state.requested_at)
                await survey_rows.insert_dispatch(conn, state, branch_id)
                metrics.SURVEYS_REQUESTED.labels(subject_type, state.channel.value).inc()
            elif env.type == SurveySent.event_type:
                assert state.channel is not None
                metrics.SURVEYS_SENT.labels(state.channel.value).inc()
            elif env.type == SurveyAnswered.event_type:
                assert state.answered_at is not None
                breached = state.expired_at is not None  # an expired survey takes no answer
                await self.deadlines.end_later(
                    conn, subject_id, WINDOW_SLA, state.answered_at, "met", breached=breached
                )
                metrics.SURVEYS_ANSWERED.labels(subject_type).inc()
            elif env.type == NegativeFeedbackReceived.event_type:
                metrics.NEGATIVE_FEEDBACK.labels(str(state.describes_complaint).lower()).inc()
            elif env.type == SurveyExpired.event_type:
                metrics.SURVEYS_EXPIRED.labels(subject_type).inc()
            elif env.type == SurveySendFailed.event_type:
                # the dispatch queue follows: the next attempt at retry_at, or none (at once: two
                # updates of one row cannot share a statement; a delivery report's transaction)
                _in_transaction(conn, env.type)
                retry_at = env.data.get("retry_at")
                await conn.execute(
                    """UPDATE survey_dispatch SET attempts = $2, sent_at = NULL, message_id = NULL,
                           next_attempt_at = coalesce($3::timestamptz, next_attempt_at),
                           given_up_at = CASE WHEN $3::timestamptz IS NULL THEN $4::timestamptz END
                       WHERE survey_id = $1""",
                    state.survey_id,
                    env.data["attempt"],
                    datetime.fromisoformat(retry_at) if retry_at else None,
                    datetime.fromisoformat(env.data["at"]),
                )
                metrics.SEND_FAILURES.labels(env.data["channel"]).inc()
            elif env.type == SurveyGivenUp.event_type:
                assert state.given_up_at is not None
                await self.deadlines.end_later(
                    conn, subject_id, WINDOW_SLA, state.given_up_at, "cancelled", breached=False
                )
                _in_transaction(conn, env.type)
                await conn.execute(
                    "UPDATE survey_dispatch SET given_up_at = coalesce(given_up_at, $2) WHERE survey_id = $1",
                    state.survey_id,
                    state.given_up_at,
                )
                metrics.SURVEYS_GIVEN_UP.labels(env.data["reason"]).inc()

    async def _upsert_facts(self, conn: asyncpg.Connection, s: Survey, branch_id: str, version: int) -> None:
        assert s.requested_at is not None and s.channel is not None and s.expires_at is not None
        local_day = s.requested_at.astimezone(self.deadlines.book.calendar(branch_id).tz).date()
        await survey_rows.upsert_facts(conn, s, branch_id, version, local_day)


def _in_transaction(conn: asyncpg.Connection, event_type: str) -> None:
    """A write at once must commit with the append: refused outside a transaction (a command of
    the handler's one statement, which only answers should reach)."""
    if not conn.is_in_transaction():
        raise RuntimeError(f"{event_type}: the dispatch row's update needs the command's transaction")
