"""Resolve a ``customer_ref`` to a phone number through reception's PII vault, at send time only.

For the feedback service's SMS/voice gateway adapter (``services.feedback.sender.ContactResolver``)::

    contacts = VaultContacts.from_env()          # RECEPTION_URL + the service-token secret
    phone = await contacts.phone_for(message.customer_ref, purpose="survey_sms")
    if phone is None: ...                        # erased, unknown or no number: do not send

The number lives in memory for that one call: never log it, store it or put it in an event.
Every resolution is audited by reception (service ``svc:<name>``, purpose, branch, correlation).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from types import TracebackType
from typing import Literal, Self, get_args
from uuid import UUID

import httpx

from shared.service_identity import issue_service_token, service_key_from_env
from shared.settings import key_environment

__all__ = [
    "CONTACT_PURPOSES",
    "RECEPTION_URL_ENV",
    "ContactPurpose",
    "ContactResolutionError",
    "VaultContacts",
]

RECEPTION_URL_ENV = "RECEPTION_URL"
RESOLVE_PATH = "/internal/contacts/resolve"
#: why a service may need a customer's number; the vault refuses any other purpose
ContactPurpose = Literal["survey_sms", "survey_call", "followup_callback", "complaint_update"]
CONTACT_PURPOSES: tuple[str, ...] = get_args(ContactPurpose)


class ContactResolutionError(RuntimeError):
    """The vault could not answer (unreachable, 5xx) or refused the caller (401/403/422: a
    configuration error). Retry later; the message never holds a phone number."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class VaultContacts:
    """A ``ContactResolver``: one short-lived service token per call, one pooled HTTP client."""

    def __init__(
        self,
        base_url: str,
        key: bytes,
        *,
        service: str = "feedback",
        timeout: float = 5.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.service = service
        self._key = key
        self._client = client or httpx.AsyncClient(base_url=self.base_url, timeout=timeout)
        self._owns_client = client is None

    @classmethod
    def from_env(cls, *, service: str = "feedback", environ: Mapping[str, str] | None = None) -> Self:
        """``RECEPTION_URL`` (default ``http://127.0.0.1:8001``) and the service-token key from
        ``BRANCHCARE_SERVICE_JWT_SECRET`` (else ``BRANCHCARE_JWT_SECRET``)."""
        env = key_environment() if environ is None else environ
        url = env.get(RECEPTION_URL_ENV, "http://127.0.0.1:8001")
        return cls(url, service_key_from_env(env), service=service)

    async def phone_for(
        self,
        customer_ref: str,
        *,
        purpose: str,
        branch_id: str | None = None,
        correlation_id: UUID | None = None,
    ) -> str | None:
        """The phone number, or None when the customer was erased, is unknown or has no number."""
        if purpose not in CONTACT_PURPOSES:
            raise ValueError(f"purpose must be one of {', '.join(CONTACT_PURPOSES)}")
        token = issue_service_token(self.service, self._key, ttl=timedelta(seconds=60))
        headers = {"Authorization": f"Bearer {token}"}
        if correlation_id is not None:
            headers["X-Correlation-Id"] = str(correlation_id)
        body: dict[str, str] = {"customer_ref": customer_ref, "purpose": purpose}
        if branch_id is not None:
            body["branch_id"] = branch_id
        try:
            response = await self._client.post(RESOLVE_PATH, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise ContactResolutionError(f"reception vault unreachable: {type(exc).__name__}") from None
        if response.status_code == 200:
            phone = response.json().get("phone")
            if not isinstance(phone, str):
                raise ContactResolutionError("reception vault answered without a phone", 200)
            return phone
        if response.status_code in (404, 410):  # unknown, no number, or erased: nobody to send to
            return None
        raise ContactResolutionError(
            f"reception vault refused the resolution: HTTP {response.status_code}", response.status_code
        )

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
