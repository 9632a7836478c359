"""How a survey reaches the customer: the pluggable gateway adapter and its local implementation.

:class:`SmsSender` is the port; an SMS/voice gateway adapter implements it. Events and tables name
the customer only by ``customer_ref``. The dispatcher resolves it to a phone number at send time
through a :class:`ContactResolver` (reception's PII vault: ``shared.contacts.VaultContacts``) and
hands it to the sender in :attr:`OutboundMessage.phone`, in memory for that one call — never in an
event, a log line or this service's tables (the field is left out of ``repr``).

:class:`LocalOutboxSender` sends nothing: it writes the message to the ``sms_outbox`` table, one
row per survey (a resend returns the first row's message id, as a gateway's idempotency key
would), with the number masked (``138****5678``) — never in clear. Phone surveys go through the
same port: for a voice gateway the text is the IVR script.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol
from uuid import UUID

import asyncpg

from shared.contracts.feedback import SurveyChannel
from shared.pii import mask_phone

#: why the vault is asked for a number (its audit records it), per survey channel
PURPOSES: dict[SurveyChannel, str] = {SurveyChannel.sms: "survey_sms", SurveyChannel.phone: "survey_call"}


@dataclass(frozen=True)
class OutboundMessage:
    survey_id: UUID
    branch_id: str
    channel: SurveyChannel
    customer_ref: str
    text: str
    #: the number resolved from the vault for this send only; None when no vault is configured
    phone: str | None = field(default=None, repr=False)


class SendRejected(Exception):
    """The gateway refused this message for good (e.g. a number it cannot deliver to): a sender
    raises it instead of a plain error, and the survey is given up instead of retried."""


class SmsSender(Protocol):
    async def send(self, message: OutboundMessage) -> str:
        """Hand the message to the gateway; returns its message id. Raises on failure (retried).

        Must be idempotent per ``survey_id``: a crash after sending and before recording it
        makes the dispatcher send again. Must not log or store ``message.phone`` in clear."""
        ...


class ContactResolver(Protocol):
    async def phone_for(
        self,
        customer_ref: str,
        *,
        purpose: str,
        branch_id: str | None = None,
        correlation_id: UUID | None = None,
    ) -> str | None:
        """The customer's phone number, read from the vault (audited with ``purpose``, branch and
        correlation id), or None when the customer was erased, is unknown or has no number.
        Raises (``shared.contacts.ContactResolutionError``) when the vault cannot answer: retry."""
        ...


class LocalOutboxSender:
    """The local "gateway": an ``sms_outbox`` row per survey, no real message, masked number."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def send(self, message: OutboundMessage) -> str:
        masked = mask_phone(message.phone) if message.phone else None
        async with self.pool.acquire() as conn:
            message_id = await conn.fetchval(
                """INSERT INTO sms_outbox (survey_id, branch_id, channel, customer_ref, body, masked_phone)
                   VALUES ($1, $2, $3, $4, $5, $6)
                   ON CONFLICT (survey_id) DO UPDATE SET attempts = sms_outbox.attempts + 1,
                       masked_phone = coalesce(EXCLUDED.masked_phone, sms_outbox.masked_phone)
                   RETURNING message_id""",
                message.survey_id,
                message.branch_id,
                message.channel.value,
                message.customer_ref,
                message.text,
                masked,
            )
        return f"local-{message_id}"


def survey_text(
    subject_type: str, channel: SurveyChannel, survey_id: UUID, signature: str, window_hours: int
) -> str:
    """The invitation (Chinese first, English after). No names, no numbers of the customer."""
    what_zh = "对我行投诉处理" if subject_type == "complaint" else "对本次网点服务"
    what_en = (
        "how we handled your complaint" if subject_type == "complaint" else "today's service at our branch"
    )
    ref = str(survey_id)[:8]
    if channel is SurveyChannel.phone:
        return (
            f"{signature}您好，这里是满意度回访。请您{what_zh}打分，1分最低，5分最高，也可以说说意见。"
            f" / Hello, please rate {what_en} from 1 (poor) to 5 (excellent). Ref {ref}."
        )
    return (
        f"{signature}感谢您的信任。请回复1-5为{what_zh}评分（5=非常满意），可附意见，{window_hours}小时内有效。"
        f" / Please reply 1-5 to rate {what_en} (5 = very satisfied) within {window_hours} h. Ref {ref}."
    )
