"""Who acted: the names of automatic actors and how an event's actor is read back.

Every event carries an ``actor``: the staff id from the token for a person's command, or a
``system:<what>`` name for a decision no person took. One name per kind of automatic decision,
here, so an auditor filtering "what did the SLA clock decide" finds every context's breaches
under one name.

Stored events are never rewritten: the SLA clock was once recorded as ``system.sla`` (complaint)
and ``sla-scheduler`` (reception). :func:`is_system` and :func:`staff_actor` still read those as
the system, so a replay of old history assigns no task to a clock.
"""

from __future__ import annotations

import re

#: The SLA clock: ``SlaAtRisk`` / ``SlaBreached`` and every step it takes on a stream.
SLA_CLOCK = "system:sla-clock"

#: Names the SLA clock was stored under before :data:`SLA_CLOCK`; valid on read, never written.
LEGACY_SLA_CLOCK: frozenset[str] = frozenset({"system.sla", "sla-scheduler"})

_NOT_STAFF = frozenset({"anonymous", "system", "unknown"}) | LEGACY_SLA_CLOCK
_STAFF = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


def is_system(actor: str) -> bool:
    """True for an automatic actor (``system…``, a legacy SLA clock name) or no actor at all."""
    lowered = actor.lower()
    return lowered in _NOT_STAFF or lowered.startswith("system")


def staff_actor(actor: str) -> str | None:
    """The member of staff who acted, or None for a system actor or a value that is no staff id."""
    if is_system(actor) or not _STAFF.match(actor):
        return None
    return actor
