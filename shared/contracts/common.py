"""Field types shared by several contexts' contracts."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from shared.contracts.refs import CustomerRef
from shared.contracts.text import TextRules

__all__ = ["CustomerRef", "Masked", "Note", "StaffId", "SystemText"]

#: staff member id as carried in tokens and events
StaffId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]
#: an optional note in a request body (free text: validated, never put into an event as words)
Note = Annotated[str, TextRules(2000)]
#: text the system writes from codes, figures and times (a task's reason, a rule's note): never
#: staff's words, so it may travel in events
SystemText = Annotated[str, TextRules(2000, min_length=1)]
#: a masked display value, e.g. ``138****5678``
Masked = Annotated[str, Field(max_length=64)]
