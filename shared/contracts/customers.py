"""Reception's vault facts about customers (issue 20), on reception's topic, pseudonyms only.

- ``CustomerContactUpdated`` — staff changed a customer's name or phone: which fields, never the
  values (not even masked: who needs them asks the vault at send or display time).
- ``CustomersMerged`` — one person registered twice (by phone, by ID number) is now one customer:
  ``merged_ref``'s PII was erased and every later lookup by it resolves to ``survivor_ref``.
- ``CustomerMergeReversed`` — the merge was a mistake: the two refs are two customers again from
  this event on (an undo is a new fact, never an edit of the old one).

How a read model keyed by customer joins them (complaint history, repeat-complaint rules,
follow-up, HQ): keep an alias table ``merged_ref → survivor_ref`` from these events (insert on
merge, delete on reversal, both idempotent by stream version) and resolve refs through it **when
querying** (``coalesce(alias.survivor_ref, row.customer_ref)``), never by rewriting rows: a rebuild
then reproduces exactly the same joins at every point of the history, and a reversal needs no
undo of rewritten rows. All three are on stream ``customer-<survivor_ref>`` (contact updates on
``customer-<customer_ref>``).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field

from shared.contracts.common import CustomerRef
from shared.registry import EventData, event


def customer_stream(customer_ref: str) -> str:
    """The stream of vault facts about one customer (the same as ``CustomerErased``'s)."""
    return f"customer-{customer_ref}"


#: - ``same_id_number``: both records hold the same ID number (one was registered by phone, then
#:   given the ID)
#: - ``same_phone``: both records hold the same mobile number
#: - ``confirmed_by_staff``: staff confirmed from documents that the two are one person (reason in
#:   the audit trail)
MergeBasis = StrEnum("MergeBasis", "same_id_number same_phone confirmed_by_staff")


@event("CustomerContactUpdated")
class CustomerContactUpdated(EventData):
    """A customer's contact details changed in the vault (audited there with the reason)."""

    customer_ref: CustomerRef
    changed: list[Literal["name", "phone"]] = Field(min_length=1, max_length=2)
    at: datetime


@event("CustomersMerged")
class CustomersMerged(EventData):
    """Two refs are one customer from now on: read models treat ``merged_ref`` as ``survivor_ref``."""

    survivor_ref: CustomerRef
    merged_ref: CustomerRef
    basis: MergeBasis
    at: datetime


@event("CustomerMergeReversed")
class CustomerMergeReversed(EventData):
    """A merge undone: ``merged_ref`` is its own customer again from this event on."""

    survivor_ref: CustomerRef
    merged_ref: CustomerRef
    at: datetime
