"""The survey dispatcher: hands requested surveys to the :class:`SmsSender`, at least once.

``survey_dispatch`` rows are written with ``SurveyRequested`` (same transaction), so no requested
survey is forgotten. A round takes due rows with ``FOR UPDATE SKIP LOCKED`` (two replicas never
send the same one), sends, and records ``SurveySent`` with the row in one transaction. A crash
between the gateway call and that commit sends again: senders are idempotent per survey id.
A failed send is retried with backoff; a survey already answered or expired is not sent.

With a :class:`ContactResolver` (the reception vault, when ``RECEPTION_URL`` is configured) the
customer's number is resolved just before the send and handed to the sender for that call only.
No number (erased, unknown, none recorded) → not sent, not retried, the skip recorded with its
reason; the vault unreachable or refusing → a failed attempt, retried like a gateway failure.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import datetime, timedelta
from uuid import UUID

import asyncpg

from services.feedback import metrics
from services.feedback.app import FeedbackApp
from services.feedback.domain import RecordSent
from services.feedback.sender import PURPOSES, ContactResolver, OutboundMessage, SmsSender, survey_text
from shared.contracts.feedback import SurveyChannel
from shared.envelope import Metadata
from shared.pii import scrub_text

log = logging.getLogger(__name__)

ACTOR = "system:survey-dispatcher"
NO_CONTACT = "no_contact"


class SurveyDispatcher:
    def __init__(
        self,
        app: FeedbackApp,
        pool: asyncpg.Pool,
        sender: SmsSender,
        *,
        contacts: ContactResolver | None = None,
        batch: int = 50,
    ) -> None:
        self.app = app
        self.pool = pool
        self.sender = sender
        #: None: no vault configured (feedback alone) — the sender gets no number
        self.contacts = contacts
        self.batch = batch

    async def tick(self) -> int:
        """Send every survey that is due now (up to ``batch``); returns how many were sent.

        One transaction per survey: a slow gateway call holds one survey's row and stream, not
        a whole batch (an answer arriving meanwhile waits for that one send at most)."""
        sent = 0
        now = self.app.clock.now()
        async with self.pool.acquire() as conn:
            for _ in range(self.batch):
                async with conn.transaction():
                    row = await conn.fetchrow(
                        """SELECT survey_id, attempts FROM survey_dispatch
                           WHERE sent_at IS NULL AND given_up_at IS NULL AND next_attempt_at <= $1
                           ORDER BY next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED""",
                        now,
                    )
                    if row is None:
                        break
                    done = await self._send_one(conn, row["survey_id"], row["attempts"])
                sent += done
                if done:
                    self.app.store.notifier.poke()
        return sent

    async def _send_one(self, conn: asyncpg.Connection, survey_id: UUID, attempts: int) -> int:
        loaded = await self.app.load(survey_id, conn)
        survey = loaded.state
        now = self.app.clock.now()
        if not survey.pending or survey.message_id is not None:
            await conn.execute(
                "UPDATE survey_dispatch SET given_up_at = $2, last_error = $3 WHERE survey_id = $1",
                survey_id,
                now,
                f"not sent: the survey is {survey.status.value}",
            )
            return 0
        assert survey.survey_id is not None and survey.channel is not None and survey.customer_ref is not None
        assert survey.expires_at is not None and survey.requested_at is not None
        branch_id = loaded.history[0].branch_id
        correlation_id = loaded.history[0].correlation_id
        window_hours = round((survey.expires_at - survey.requested_at).total_seconds() / 3600)
        message = OutboundMessage(
            survey_id=survey.survey_id,
            branch_id=branch_id,
            channel=survey.channel,
            customer_ref=survey.customer_ref,
            text=survey_text(
                survey.subject_type, survey.channel, survey.survey_id, self.app.config.signature, window_hours
            ),
        )
        phone: str | None = None
        try:
            if self.contacts is not None:
                purpose = PURPOSES[survey.channel]
                phone = await self.contacts.phone_for(
                    survey.customer_ref, purpose=purpose, branch_id=branch_id, correlation_id=correlation_id
                )
        except Exception as exc:  # the vault is unreachable or refused us: try again later
            await self._failed(conn, survey_id, survey.channel, attempts, now, exc)
            return 0
        if self.contacts is not None and phone is None:
            await self._skip(conn, survey_id, attempts, now)
            return 0
        try:
            message_id = await self.sender.send(replace(message, phone=phone))
        except Exception as exc:
            await self._failed(conn, survey_id, survey.channel, attempts, now, exc)
            return 0
        meta = Metadata(actor=ACTOR, correlation_id=correlation_id)
        await self.app.execute_in(
            conn, survey.survey_id, RecordSent(message_id=message_id[:128], at=now), meta=meta
        )
        await conn.execute(
            "UPDATE survey_dispatch SET sent_at = $2, message_id = $3, attempts = $4 WHERE survey_id = $1",
            survey_id,
            now,
            message_id[:128],
            attempts + 1,
        )
        return 1

    async def _skip(self, conn: asyncpg.Connection, survey_id: UUID, attempts: int, now: datetime) -> None:
        """Nobody to send to: erased (crypto-shredded), unknown to the vault, or no number.
        Retrying would not change that; the survey still expires at the end of its window."""
        metrics.SURVEYS_SKIPPED.labels(NO_CONTACT).inc()
        log.info("survey %s: not sent, the vault has no phone number for the customer", survey_id)
        await conn.execute(
            """UPDATE survey_dispatch SET attempts = $2, given_up_at = $3, skip_reason = $4,
                   last_error = $5 WHERE survey_id = $1""",
            survey_id,
            attempts + 1,
            now,
            NO_CONTACT,
            "not sent: no phone number (the customer was erased, is unknown to the vault or has none)",
        )

    async def _failed(
        self,
        conn: asyncpg.Connection,
        survey_id: UUID,
        channel: SurveyChannel,
        attempts: int,
        now: datetime,
        exc: Exception,
    ) -> None:
        """The vault or the gateway failed: retry with backoff, give up after the configured tries."""
        metrics.SEND_FAILURES.labels(channel.value).inc()
        attempts += 1
        give_up = attempts >= self.app.config.max_send_attempts
        error = scrub_text(repr(exc))[:500]  # a gateway may quote the phone number it refused
        log.warning("survey %s: send attempt %d failed: %s", survey_id, attempts, error)
        await conn.execute(
            """UPDATE survey_dispatch SET attempts = $2, last_error = $3,
                   next_attempt_at = $4, given_up_at = $5 WHERE survey_id = $1""",
            survey_id,
            attempts,
            error,
            now + min(timedelta(seconds=5 * 2**attempts), timedelta(hours=1)),
            now if give_up else None,
        )

    async def run(self) -> None:
        try:
            while True:
                try:
                    await self.tick()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("feedback: survey dispatch round failed")
                await asyncio.sleep(self.app.config.dispatch_period)
        finally:
            close = getattr(self.contacts, "aclose", None)
            if close is not None:
                await close()
