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

import logging
from dataclasses import KW_ONLY, dataclass, replace
from datetime import datetime
from uuid import UUID

import asyncpg

from services.feedback import metrics
from services.feedback.app import FeedbackApp
from services.feedback.domain import RecordSendFailure, RecordSent, Survey, SurveyStatus
from services.feedback.sender import (
    PURPOSES,
    ContactResolver,
    OutboundMessage,
    SendRejected,
    SmsSender,
    survey_text,
)
from shared.contracts.feedback import DeliveryFailure
from shared.envelope import Metadata
from shared.periodic import every
from shared.pii import scrub_text

log = logging.getLogger(__name__)

ACTOR = "system:survey-dispatcher"
NO_CONTACT = "no_contact"
#: whether any survey is due to be sent (the rows a round takes)
_ANY_DUE = """SELECT EXISTS (SELECT 1 FROM survey_dispatch
                 WHERE sent_at IS NULL AND given_up_at IS NULL AND next_attempt_at <= $1)"""


@dataclass(eq=False)
class SurveyDispatcher:
    app: FeedbackApp
    pool: asyncpg.Pool
    sender: SmsSender
    _: KW_ONLY
    #: None: no vault configured (feedback alone) — the sender gets no number
    contacts: ContactResolver | None = None
    batch: int = 50

    async def tick(self) -> int:
        """Send every survey that is due now (up to ``batch``); returns how many were sent.

        One transaction per survey: a slow gateway call holds one survey's row and stream, not
        a whole batch (an answer arriving meanwhile waits for that one send at most)."""
        sent = 0
        now = self.app.clock.now()
        async with self.pool.acquire() as conn:
            # an idle round (most of them) is this one read, outside a transaction: not BEGIN, a
            # locking SELECT and COMMIT every half second
            if not await conn.fetchval(_ANY_DUE, now):
                return 0
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
        if not survey.pending or survey.status is SurveyStatus.sent:
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
            await self._failed(conn, survey, DeliveryFailure.contact_unavailable, now, exc)
            return 0
        if self.contacts is not None and phone is None:
            await self._skip(conn, survey, now)
            return 0
        try:
            message_id = await self.sender.send(replace(message, phone=phone))
        except SendRejected as exc:
            await self._failed(conn, survey, DeliveryFailure.gateway_rejected, now, exc, retry=False)
            return 0
        except Exception as exc:
            await self._failed(conn, survey, DeliveryFailure.gateway_error, now, exc)
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

    async def _skip(self, conn: asyncpg.Connection, survey: Survey, now: datetime) -> None:
        """Nobody to send to: erased (crypto-shredded), unknown to the vault, or no number.
        Retrying would not change that: the survey is given up (``no_contact``), not expired."""
        metrics.SURVEYS_SKIPPED.labels(NO_CONTACT).inc()
        assert survey.survey_id is not None
        log.info("survey %s: not sent, the vault has no phone number for the customer", survey.survey_id)
        await self._record(conn, survey, RecordSendFailure(DeliveryFailure.no_contact, now, None))
        await conn.execute(
            "UPDATE survey_dispatch SET skip_reason = $2, last_error = $3 WHERE survey_id = $1",
            survey.survey_id,
            NO_CONTACT,
            "not sent: no phone number (the customer was erased, is unknown to the vault or has none)",
        )

    async def _failed(
        self,
        conn: asyncpg.Connection,
        survey: Survey,
        reason: DeliveryFailure,
        now: datetime,
        exc: Exception,
        *,
        retry: bool = True,
    ) -> None:
        """The vault or the gateway failed: ``SurveySendFailed`` with the reason and the next
        attempt (backoff), or given up after the configured tries or at the end of the window."""
        assert survey.survey_id is not None
        error = scrub_text(repr(exc))[:500]  # a gateway may quote the phone number it refused
        retry_at = self.app.retry_at(survey, now) if retry else None
        log.warning(
            "survey %s: send attempt %d failed (%s): %s", survey.survey_id, survey.attempts + 1, reason, error
        )
        await self._record(conn, survey, RecordSendFailure(reason, now, retry_at))
        await conn.execute(
            "UPDATE survey_dispatch SET last_error = $2 WHERE survey_id = $1", survey.survey_id, error
        )

    async def _record(self, conn: asyncpg.Connection, survey: Survey, command: RecordSendFailure) -> None:
        assert survey.survey_id is not None
        await self.app.execute_in(conn, survey.survey_id, command, meta=Metadata(actor=ACTOR))
        self.app.store.notifier.poke()

    async def run(self) -> None:
        try:
            await every(
                lambda: self.app.config.dispatch_period,
                self.tick,
                name="feedback: survey dispatch round",
                logger=log,
            )
        finally:
            close = getattr(self.contacts, "aclose", None)
            if close is not None:
                await close()
