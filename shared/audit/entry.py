"""One audit row as the code sees it, and the rules that keep it free of PII: ids only when they
look like ids, free text scrubbed of phone/ID numbers and bounded."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from shared.contracts.refs import is_pseudonym
from shared.pii import scrub_text

MAX_REASON = 200
STAFF_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
RESOURCE_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,128}$")
KIND = re.compile(r"^[a-z][a-z0-9_.]{0,63}$")


@dataclass(frozen=True)
class AuditEntry:
    """One attributable act. ``kind`` is ``command`` or a PII action (``pii.read`` ...)."""

    at: datetime
    service: str
    kind: str
    staff_id: str | None
    authenticated: bool = True
    action: str | None = None
    method: str | None = None
    route: str | None = None
    resource_id: str | None = None
    branch_id: str | None = None
    status: int | None = None
    correlation_id: UUID | None = None
    reason: str | None = None
    audit_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["at"] = self.at.isoformat()
        out["correlation_id"] = str(self.correlation_id) if self.correlation_id else None
        return out


def clean_reason(reason: str | None) -> str | None:
    if reason is None:
        return None
    text = "".join(ch if ch.isprintable() else " " for ch in reason).strip()
    return scrub_text(text)[:MAX_REASON] or None


def clean_resource(value: str | None) -> str | None:
    """A resource id only if it looks like one (uuid, ref, ticket) and holds nothing that looks
    like a phone or ID number (someone typing a number where a ref belongs); idempotent."""
    if value is None or not RESOURCE_ID.match(value):
        return None
    try:
        return str(UUID(value)) if len(value) == 36 else _unless_number(value)
    except ValueError:
        return _unless_number(value)


def _unless_number(value: str) -> str | None:
    """Kept when it is a pseudonymous reference (a real ``customer_ref`` may hold a run of digits
    by chance) or holds nothing that looks like a number."""
    return value if is_pseudonym(value) or scrub_text(value) == value else None
