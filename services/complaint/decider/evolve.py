"""How each event changes a complaint case: one small function per event type.

The functions are in :mod:`.evolve_lifecycle` and :mod:`.evolve_regulatory` (``@on(EventType)``);
``evolve`` looks one up by the event's type, and an event no function is registered for changes
nothing. Replaying a case's events through it gives its state.
"""

from __future__ import annotations

from services.complaint.decider import evolve_lifecycle, evolve_regulatory
from services.complaint.decider.folding import EVOLVE
from services.complaint.state import Complaint
from shared.decider_tables import Evolutions

#: the modules whose functions fill :data:`EVOLVE` (imported for that)
SLICES = (evolve_lifecycle, evolve_regulatory)


evolve: Evolutions[Complaint] = EVOLVE
