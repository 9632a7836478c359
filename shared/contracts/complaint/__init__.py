"""Events of the complaint context (``complaint.events.v1``).

The events other contexts react to are defined here; the complaint service adds its internal
lifecycle events to this module too (one module per context's topic). The topic also carries the
shared ``SlaAtRisk`` / ``SlaBreached`` events: importing this module registers them, so every
consumer of the topic can decode all of it.

Staff's free text (a description, a reason, an answer, a note) never travels: events carry a
:class:`~shared.contracts.text.TextRef` to the text the complaint service keeps (or, for a case
opened from a visit, a survey or a failed verification, the ref of the context that received the
words). Those events are schema v2; v1 events with raw text are upcast to withheld refs on read.
Decisions never depend on the words: automatic escalations name their causes as codes.
"""

from __future__ import annotations

from shared.contracts import sla as _sla_events  # noqa: F401  (registers SlaAtRisk / SlaBreached)
from shared.contracts.common import CustomerRef, StaffId
from shared.contracts.complaint import lifecycle, regulatory, vocabulary
from shared.contracts.complaint.lifecycle import *  # noqa: F403
from shared.contracts.complaint.regulatory import *  # noqa: F403
from shared.contracts.complaint.vocabulary import *  # noqa: F403

#: each module names what it defines (its ``__all__``); the package is all of them
__all__ = ["CustomerRef", "StaffId", *lifecycle.__all__, *regulatory.__all__, *vocabulary.__all__]
