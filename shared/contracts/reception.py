"""Events of the reception context (``reception.events.v1``).

The events other contexts react to (``VisitArrived``, ``ComplaintRaisedDuringVisit``,
``VisitServed``, ``VisitLeft``) are the agreed contract: their fields are never renamed or removed,
only optional ones added. The rest are the reception service's own visit and phone-call lifecycle
events, published on the same topic for HQ and anyone else who cares.

No raw PII anywhere: a customer is a pseudonymous ``customer_ref`` plus masked display values, and
staff's free text (notes, a complaint's description, a visit's outcome) stays in reception's private
store: events carry a :class:`~shared.contracts.text.TextRef` (schema v2; v1 events with raw text
are upcast to a withheld ref on read). ``CustomerErased`` tells every context to shred the texts it
keeps about a customer the vault erased.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import Field

from shared.contracts.common import CustomerRef, MaskedName, MaskedPhone, StaffId
from shared.contracts.text import TextRef, withhold_texts
from shared.registry import EventData, event

ServiceType = StrEnum(
    "ServiceType",
    "account_opening deposit_demand deposit_time deposit_flexible education_savings withdrawal "
    "transfer card_service loan_application wealth_management enquiry complaint other",
)
Priority = StrEnum("Priority", "elderly disabled vip")
Priority.__doc__ = "Who is served first within a service line."
Accessibility = StrEnum("Accessibility", "hearing vision mobility language")
#: - ``abandoned``: left while queued or after being called, before being served
#: - ``no_show``: called three times, never came to the counter
#: - ``before_queue``: left before taking a ticket (e.g. only asked the way, or changed their mind)
#: - ``did_not_return``: stepped out to fetch missing documents and did not come back
LeftReason = StrEnum("LeftReason", "served abandoned no_show before_queue did_not_return")
#: - ``missed``: the caller hung up before anyone answered
#: - ``unresolved``: answered, but ended without a resolution or a routing (dropped line)
CallOutcome = StrEnum("CallOutcome", "resolved routed missed unresolved")


#: a service line (queue) name from the catalogue, e.g. ``deposits``
LineName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
#: a queue ticket: the line's prefix letter(s) and a number, e.g. ``A012``
Ticket = Annotated[str, Field(pattern=r"^[A-Z]{1,2}[0-9]{3,5}$")]
#: a counter (window) of the branch, e.g. ``3`` or ``vip-1``
CounterId = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.\-]+$")]
#: a material code from the catalogue, e.g. ``id_card``
MaterialCode = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,47}$")]


# ------------------------------------------------------------------------ the agreed contract


class OnVisit(EventData):
    # what every event of a visit says first (a base's fields come first; no docstring: each
    # event's schema keeps its own description)
    visit_id: UUID


class OnCall(EventData):
    # what every event of a phone call says first
    call_id: UUID


@event("VisitArrived")
class VisitArrived(OnVisit):
    customer_ref: CustomerRef | None = None
    arrival: str = Field(pattern=r"^(walk_in|appointment)$")
    returning: bool = False
    at: datetime
    #: e.g. ``王*`` — never the raw name
    display_name: MaskedName | None = None


@event("ComplaintRaisedDuringVisit", version=2)
class ComplaintRaisedDuringVisit(OnVisit):
    """The complaint service opens a case linked to the visit (channel ``in_branch``); the case
    keeps reception's ref for its description."""

    customer_ref: CustomerRef
    description: TextRef
    at: datetime
    #: the need confirmed at reception was "complaint" (else raised later during the visit)
    from_need: bool = False


@event("VisitServed", version=2)
class VisitServed(OnVisit):
    service_type: ServiceType
    counter_id: str = Field(min_length=1, max_length=32)
    staff_id: StaffId
    outcome: TextRef | None = None
    next_steps: TextRef | None = None
    #: when the next steps promise something by a time ("funds arrive within 2 business days"):
    #: the follow-up service schedules a callback then
    promised_by: datetime | None = None
    customer_ref: CustomerRef | None = None
    waited_seconds: float = Field(ge=0)
    at: datetime
    line: LineName | None = None
    #: from being called to being served
    service_seconds: float | None = Field(default=None, ge=0)


@event("VisitLeft")
class VisitLeft(OnVisit):
    at: datetime
    reason: LeftReason | None = None


# ------------------------------------------------------------------ the visit's own lifecycle


@event("VisitRoutedToRelationshipManager")
class VisitRoutedToRelationshipManager(OnVisit):
    """A returning customer with an assigned relationship manager is served by them."""

    relationship_manager: StaffId
    at: datetime


@event("VisitPrioritised")
class VisitPrioritised(OnVisit):
    """Served first within the line; the accessibility needs tell staff how to help."""

    priority: Priority | None = None
    accessibility: list[Accessibility] = Field(default_factory=list, max_length=4)
    at: datetime


@event("VisitGreeted")
class VisitGreeted(OnVisit):
    at: datetime
    #: the customer identified themselves while being greeted
    customer_ref: CustomerRef | None = None


@event("NeedConfirmed", version=2)
class NeedConfirmed(OnVisit):
    service_type: ServiceType
    #: the service line (queue) the need is served on
    line: LineName
    notes: TextRef | None = None
    at: datetime


@event("VisitGuided", version=2)
class VisitGuided(OnVisit):
    """The customer was told which materials the business needs (from the catalogue)."""

    service_type: ServiceType
    required_materials: list[MaterialCode] = Field(default_factory=list, max_length=30)
    notes: TextRef | None = None
    at: datetime


@event("DocumentsChecked")
class DocumentsChecked(OnVisit):
    complete: bool
    missing: list[MaterialCode] = Field(default_factory=list, max_length=30)
    #: 1 for the first check of the visit, 2 after the customer fetched what was missing, ...
    attempt: int = Field(ge=1)
    at: datetime


@event("VisitSteppedOut")
class VisitSteppedOut(OnVisit):
    """The customer went to fetch missing documents; the visit stays open."""

    missing: list[MaterialCode] = Field(default_factory=list, max_length=30)
    at: datetime


@event("VisitReturned")
class VisitReturned(OnVisit):
    at: datetime


@event("VisitQueued")
class VisitQueued(OnVisit):
    line: LineName
    ticket: Ticket
    service_type: ServiceType
    #: the branch's local date the ticket number belongs to (numbers restart every day)
    day: date
    priority: Priority | None = None
    at: datetime


@event("VisitCalled")
class VisitCalled(OnVisit):
    ticket: Ticket
    line: LineName
    counter_id: CounterId
    staff_id: StaffId
    #: 1, 2 or 3: a customer called three times without coming is a no-show
    call_number: int = Field(ge=1, le=3)
    #: from queued to this call
    waited_seconds: float = Field(ge=0)
    at: datetime


@event("VisitNoShow")
class VisitNoShow(OnVisit):
    ticket: Ticket
    line: LineName
    calls: int = Field(ge=1)
    at: datetime


@event("VisitAbandoned")
class VisitAbandoned(OnVisit):
    """The customer left while queued (or after being called, before being served)."""

    ticket: Ticket
    line: LineName
    waited_seconds: float = Field(ge=0)
    at: datetime


# -------------------------------------------------------------------------------- phone calls


@event("CallReceived")
class CallReceived(OnCall):
    customer_ref: CustomerRef | None = None
    #: e.g. ``138****5678`` — never the raw number
    masked_number: MaskedPhone | None = None
    at: datetime


@event("CallAnswered")
class CallAnswered(OnCall):
    staff_id: StaffId
    rings: int = Field(ge=0, le=100)
    seconds_to_answer: float = Field(ge=0)
    #: the ring limit in force (default 3)
    max_rings: int = Field(ge=1, le=20)
    within_target: bool
    at: datetime


@event("CallPurposeRecorded", version=2)
class CallPurposeRecorded(OnCall):
    purpose: ServiceType
    notes: TextRef | None = None
    at: datetime


@event("CallRouted", version=2)
class CallRouted(OnCall):
    #: a staff id, desk or department, e.g. ``loans-desk``
    routed_to: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    notes: TextRef | None = None
    at: datetime


@event("CallResolved", version=2)
class CallResolved(OnCall):
    notes: TextRef | None = None
    at: datetime


@event("CallEnded")
class CallEnded(OnCall):
    outcome: CallOutcome
    #: from received to ended
    duration_seconds: float = Field(ge=0)
    at: datetime


# ------------------------------------------------------------------------------ counters


#: - ``equipment``: the counter's system or cash equipment is down
#: - ``floor_duty``: the teller went to help elsewhere in the branch
CounterPauseReason = StrEnum("CounterPauseReason", "break lunch meeting training equipment floor_duty other")
CounterPauseReason.__doc__ = (
    "Why a counter stops calling for a while (a code: the reason travels, staff's words do not)."
)


class OnCounter(EventData):
    # what every event of a counter says first: which counter, and the member of staff at it
    counter_id: CounterId
    staff_id: StaffId


@event("CounterOpened")
class CounterOpened(OnCounter):
    """A counter starts calling customers (the wait estimate counts it from now)."""

    #: the lines it serves; empty = every line
    lines: list[LineName] = Field(default_factory=list, max_length=16)
    #: opened by a call from a closed counter (terminals that never open one), not by ``open``
    implicit: bool = False
    at: datetime


@event("CounterPaused")
class CounterPaused(OnCounter):
    reason: CounterPauseReason
    at: datetime


@event("CounterResumed")
class CounterResumed(OnCounter):
    #: how long it was paused
    paused_seconds: float = Field(ge=0)
    at: datetime


@event("CounterClosed")
class CounterClosed(OnCounter):
    at: datetime


# ------------------------------------------------------------------------------ erasure


#: the stream and branch of erasure events: an erasure is about a customer, in every branch
ERASURE_BRANCH = "all-branches"


def erasure_stream(customer_ref: str) -> str:
    return f"customer-{customer_ref}"


@event("CustomerErased")
class CustomerErased(EventData):
    """The vault erased a customer (``DELETE /customers/{ref}/pii``): every context deletes the
    data key of the texts it keeps about them (crypto-shredding). PII-free; idempotent to apply."""

    customer_ref: CustomerRef
    at: datetime


# ------------------------------------------------------------- v1 events with raw free text

withhold_texts(ComplaintRaisedDuringVisit, "reception", "description")
withhold_texts(VisitServed, "reception", "outcome", "next_steps")
withhold_texts(NeedConfirmed, "reception", "notes")
withhold_texts(VisitGuided, "reception", "notes")
withhold_texts(CallPurposeRecorded, "reception", "notes")
withhold_texts(CallRouted, "reception", "notes")
withhold_texts(CallResolved, "reception", "notes")
